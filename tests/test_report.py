"""`aiflow report`: every figure equals what the store's rows say, on SQLite and PostgreSQL,
after hand-made runs with exact latencies and costs and after the real demo tickets."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from activities.store import Store
from contracts import Outcome, ReviewAction, StepRecord
from starter import demo, report
from starter import review as review_cli
from starter.report_html import charts, render_html
from starter.report_tables import render_text, sections
from starter.runs import ticket_handle
from tests.conftest import ROOT, make_settings, running_worker
from tests.report_data import CODE, MIXED, RESOLVED, call, lat, rec, save, save_mixed
from tests.test_processes import aiflow, base_env

BUDGETS = {"classify": 3000.0, "draft": 6000.0, "run": 15000.0}  # the settings' default
ARTIFACTS = ROOT / "tests" / "artifacts"
PNG_IMG = '<img src="data:image/png;base64,'


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")  # shared by the session: unique ids below
    s = Store(url)
    s.create_schema()
    yield s
    s.close()


def figures(store: Store, tag: str, since: datetime) -> dict:
    rows = report.load(store, since)
    assert (
        sorted({r.workflow_id for r in rows.runs})
        == sorted({r.workflow_id for r in rows.runs if r.workflow_id.startswith(tag)})
        != []
    )  # nothing of other tests (the PostgreSQL database is shared)
    return report.build(rows, BUDGETS, since)


async def test_report_figures_equal_the_stored_rows(store):
    tag, since = uuid.uuid4().hex[:10], datetime.now(UTC)
    save_mixed(store, tag)
    got = figures(store, tag, since)
    assert {k: v for k, v in got.items() if k != "since"} == MIXED
    assert got["since"] == since.isoformat()
    assert report.build(report.load(store, datetime.now(UTC)), BUDGETS)["runs"]["total"] == 0


async def test_percentiles_are_nearest_rank_over_many_runs(store):
    """100 runs: classify takes i*40 ms and costs i/1e6 $, the run i*40+10 ms (i = 1..100)."""
    tag, since = uuid.uuid4().hex[:10], datetime.now(UTC)
    for i in range(1, 101):
        flag = {"latency_budget_ms": 3000.0, "over_budget": True} if i > 75 and i % 2 == 0 else {}
        steps = [
            call(1, "classify", i * 40.0, "m", "p", 10, 1, i / 1e6, details=flag),
            rec(2, "finalize", CODE, 10.0, "resolved"),
        ]
        save(store, f"{tag}-{i:03d}", steps, RESOLVED, i * 40.0 + 10)
    got = figures(store, tag, since)
    by_step = {g["step"]: g for g in got["latency"]}
    # rank ceil(p/100 * 100): the 50th, 95th and 99th values; 76..100 over 3000 ms
    assert by_step["classify"] == lat(
        "classify", 100, 2000.0, 3800.0, 3960.0, 4000.0, 3000.0, 25, 13
    )
    assert by_step["run"] == lat("run", 100, 2010.0, 3810.0, 3970.0, 4010.0, 15000.0, 0, 0)
    assert got["cost"]["per_run"] == {
        "runs": 100,
        "mean_usd": 5.05e-05,
        "p50_usd": 5e-05,
        "p95_usd": 9.5e-05,
        "max_usd": 0.0001,
    }
    assert got["cost"]["total_usd"] == 0.00505
    assert [report.percentile([15, 20, 35, 40, 50], p) for p in (5, 30, 40, 50, 100)] == [
        15,
        20,
        20,
        35,
        50,
    ]
    assert report.percentile([], 50) is None


HEADERS = [  # each table's title and header line, as the terminal shows them
    "Runs by outcome",
    "outcome      runs",
    "Runs by workflow",
    "workflow      runs  outcomes",
    "Latency (ms) against budget",
    "step      records  p50     p95      p99      max      budget  over  flagged",
    "Cost per run (USD)",
    "runs  total     mean      p50       p95       max",
    "Cost by step (USD)",
    "step      model calls  tokens in  tokens out  cost",
    "Cost by model (USD)",
    "model       calls  errors  tokens in  tokens out  cost",
    "Cost by outcome (USD)",
    "outcome      runs  cost      mean",
    "Model calls avoided (a settled run counts 2.20 calls, the mean of the runs that called"
    " a model)",
    "layer   runs settled  calls avoided  note",
    "Tiers of the ladder (0 runs on it; cost per answered item -)",
    "tier  runs  share  cost  cost per answered  p50 ms",
    "Steps settled, by tier",
    "step  tier  steps",
    "Reviews (override = edit, reject or spam)",
    "runs  reviewed  review rate  pending  decisions  approve  edit  reject  spam  override rate",
    "Review share by route (of all runs)",
    "route    runs  share",
    "Review share by reason (of all runs; a run may have several)",
    "reason          runs  share",
    "Retries and errors",
    "kind                  count",
]


async def test_cli_prints_the_tables_and_writes_the_html(tmp_path):
    """`aiflow report` as a process, configured by the environment alone."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store(url)
    store.create_schema()
    save_mixed(store, "cli")
    expected = render_text(report.build(report.load(store), BUDGETS))
    store.close()
    html_path = tmp_path / "out" / "report.html"
    env = base_env(tmp_path, DATABASE_URL=url, AIFLOW_STATE_DIR=str(tmp_path / "var"))
    ran = await aiflow("report", "--html", str(html_path), env=env, cwd=tmp_path)
    assert (ran.code, ran.err) == (0, ""), ran
    assert ran.out == f"{expected}\nwrote {html_path}\n"
    blocks = ran.out.split("\n\n")
    assert [line for b in blocks for line in b.splitlines()[:2]] == HEADERS
    assert html_path.read_text().count(PNG_IMG) == 5


async def test_html_has_the_charts_and_the_tables(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    store.create_schema()
    save_mixed(store, "html")
    rep = report.build(report.load(store), BUDGETS)
    store.close()
    tables = sections(rep)
    page = render_html(rep, tables)
    assert page.count(PNG_IMG) == 5
    assert all(f"<h3>{title}</h3>" in page for title, _, _ in tables)
    assert "<td>p1/m-large</td><td>5</td><td>1</td><td>2420</td><td>960</td>" in page
    write_charts(rep, "report-mixed")


def write_charts(rep: dict, name: str) -> None:
    """The PNGs for people to look at (tests/artifacts is not versioned)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for i, (_, data) in enumerate(charts(rep), 1):
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        (ARTIFACTS / f"{name}-{i}.png").write_bytes(data)


def demo_tickets(tmp_path: Path, tag: str) -> Path:
    """The bundled demo tickets under ids of this test (the dev server is shared)."""
    lines = (ROOT / "data" / "tickets" / "demo.jsonl").read_text().splitlines()
    tickets = [json.loads(line) for line in lines if line.strip()]
    for t in tickets:
        t["ticket_id"] = f"{t['ticket_id']}-{tag}"
    path = tmp_path / "demo.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tickets))
    return path


async def test_demo_runs_report_equals_direct_sql(env, tmp_path, capsys):
    """The demo tickets through a real worker, three reviews decided, then `--json`."""
    settings = make_settings(tmp_path)
    tag = uuid.uuid4().hex[:6]
    args = ["--tickets", str(demo_tickets(tmp_path, tag))]
    assert await demo.amain(args, client=env.client, settings=settings) == 0
    store = Store(settings.store_url)
    pending = sorted(store.pending_reviews(), key=lambda r: r.ticket_id)
    decide = [
        ["approve", pending[0].ticket_id],
        ["edit", pending[1].ticket_id, "--category", "other", "--reply", "Hello, fixed. Team"],
        ["reject", pending[2].ticket_id, "--reason", "duplicate"],
    ]
    async with running_worker(env.client, settings):
        for argv in decide:
            argv += ["--reviewer", "ana@example.com"]
            assert await review_cli.amain(argv, client=env.client, settings=settings) == 0
        for r in pending[:3]:
            await ticket_handle(env.client, r.ticket_id).result()
    capsys.readouterr()
    html_path = tmp_path / "demo.html"
    assert report.main(["--json", "--html", str(html_path)], settings=settings) == 0
    got = json.loads(capsys.readouterr().out)
    assert html_path.read_text().count(PNG_IMG) == 5
    write_charts(got, "report-demo")
    (ARTIFACTS / "report-demo.txt").write_text(render_text(got) + "\n")
    with store.engine.connect() as db:
        assert got == expected_from_sql(db, settings.step_latency_budgets_ms) | {"since": None}
    store.close()
    layers = {g["layer"]: g["runs"] for g in got["avoided"]["layers"]}
    assert layers == {"intake": 6, "rules": 7, "cache": 0}  # the demo's 13 settled tickets
    assert (got["reviews"]["decisions"], got["reviews"]["overrides"]) == (3, 2)


def sql(db, query: str, **params) -> list[tuple]:
    return [tuple(r) for r in db.execute(text(query), params)]


def one(db, query: str, **params):
    return sql(db, query, **params)[0][0]


def nearest_rank(db, values: str, p: float, **params) -> float | None:
    """The ceil(p/100 * n)-th smallest value, by ORDER BY ... LIMIT 1 OFFSET."""
    n = one(db, f"SELECT COUNT(*) FROM ({values}) v", **params)
    if n == 0:
        return None
    k = max(1, math.ceil(p / 100 * n)) - 1
    return one(db, f"SELECT x FROM ({values}) v ORDER BY x LIMIT 1 OFFSET {k}", **params)


def latency_row(db, step: str, values: str, budget: float | None, over: str, flag: str) -> dict:
    n = one(db, f"SELECT COUNT(*) FROM ({values}) v", s=step)
    ranks = [nearest_rank(db, values, p, s=step) for p in (50, 95, 99)]
    top = one(db, f"SELECT MAX(x) FROM ({values}) v", s=step)
    o = 0 if budget is None else one(db, over, s=step, b=budget)
    return lat(step, n, *ranks, top, budget, o, one(db, flag, s=step))


STEP_VALUES = "SELECT latency_ms AS x FROM steps WHERE step = :s"
STEP_OVER = "SELECT COUNT(*) FROM steps WHERE step = :s AND kind != 'human' AND latency_ms > :b"
STEP_FLAG = "SELECT COUNT(*) FROM steps WHERE step = :s AND json_extract(details, '$.over_budget')"
RUN_VALUES = """SELECT ROUND(r.latency_ms - COALESCE((SELECT SUM(s.latency_ms) FROM steps s
    WHERE s.workflow_id = r.workflow_id AND s.kind = 'human'), 0), 3) AS x
    FROM runs r WHERE r.outcome IS NOT NULL AND :s = 'run'"""
RUN_OVER = f"SELECT COUNT(*) FROM ({RUN_VALUES}) v WHERE x > :b"
RUN_FLAG = """SELECT COUNT(*) FROM steps WHERE step = 'finalize' AND :s = 'run'
    AND json_extract(details, '$.run_over_budget')"""
OUTCOME = "COALESCE(outcome, 'open:' || stage)"
MODEL = "kind = 'model' AND model IS NOT NULL"
CALLS = "SUM(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END)"
SETTLED = """SELECT COUNT(*) FROM runs WHERE outcome = :o
    AND workflow_id NOT IN (SELECT workflow_id FROM steps WHERE kind = 'model')"""


def usd(v: float | None) -> float | None:
    return None if v is None else round(v, 10)


def expected_from_sql(db, budgets: dict[str, float]) -> dict:
    """The report's figures, each from its own SQL query over the store's SQLite tables."""
    names = {r[0] for r in sql(db, "SELECT DISTINCT step FROM steps")}
    latency = [
        latency_row(db, s, STEP_VALUES, budgets.get(s), STEP_OVER, STEP_FLAG)
        for s in [n for n in report.PIPELINE if n in names] + sorted(names - set(report.PIPELINE))
    ] + [latency_row(db, "run", RUN_VALUES, budgets.get("run"), RUN_OVER, RUN_FLAG)]
    costs = "SELECT cost_usd AS x FROM runs"
    n_runs = one(db, "SELECT COUNT(*) FROM runs")
    order = {n: i for i, n in enumerate(report.PIPELINE)}
    by_step = sql(
        db,
        f"""SELECT step, SUM(CASE WHEN {MODEL} AND outcome = 'ok' THEN 1 ELSE 0
        END), SUM(CASE WHEN {MODEL} THEN input_tokens ELSE 0 END), SUM(CASE WHEN {MODEL}
        THEN output_tokens ELSE 0 END), SUM(cost_usd) FROM steps GROUP BY step""",
    )
    by_model = sql(
        db,
        f"""SELECT provider || '/' || model, {CALLS}, SUM(CASE WHEN outcome =
        'error' THEN 1 ELSE 0 END), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd)
        FROM steps WHERE {MODEL} GROUP BY 1 ORDER BY 1""",
    )
    by_outcome = sql(
        db,
        f"SELECT {OUTCOME}, COUNT(*), SUM(cost_usd), AVG(cost_usd) FROM runs GROUP BY 1 ORDER BY 1",
    )
    calls, with_calls = sql(
        db,
        """SELECT COUNT(*), COUNT(DISTINCT workflow_id) FROM steps
        WHERE kind = 'model' AND outcome = 'ok'""",
    )[0]
    per_run = calls / with_calls
    settled = {layer: one(db, SETTLED, o=o) for layer, o in report.NOT_MODEL_LAYERS.items()}
    status = dict(sql(db, "SELECT status, COUNT(*) FROM reviews GROUP BY status"))
    actions = dict(sql(db, "SELECT action, COUNT(*) FROM corrections GROUP BY action"))
    decisions = sum(actions.values())
    overrides = sum(actions.get(a, 0) for a in ("edit", "reject", "spam"))
    reviewed = one(db, "SELECT COUNT(DISTINCT workflow_id) FROM reviews")
    # each of these runs was reviewed at most once
    routes = sql(db, "SELECT queue, COUNT(DISTINCT workflow_id) FROM reviews GROUP BY queue")
    reasons = sql(
        db,
        """SELECT j.value, COUNT(DISTINCT r.workflow_id) FROM reviews r, json_each(r.reasons) j
        GROUP BY j.value""",
    )

    def shares(found):
        return [
            {"name": k, "runs": v, "share": round(v / n_runs, 4)}
            for k, v in sorted(found, key=lambda kv: (-kv[1], kv[0]))
        ]

    ratios = [r[0] for r in sql(db, "SELECT reply_edit_ratio FROM corrections") if r[0] is not None]
    waits = sorted(r[0] for r in sql(db, "SELECT time_to_review_s FROM corrections"))
    counts = dict.fromkeys(report.ALWAYS_SHOWN, 0) | {
        "retry": one(db, f"SELECT COALESCE(SUM(attempt - 1), 0) FROM steps WHERE {OK_CALL}"),
        "fallback": one(
            db,
            f"SELECT COUNT(*) FROM steps WHERE {OK_CALL} AND"
            " json_extract(details, '$.fallbacks') > 0",
        ),
        "reask": one(
            db,
            f"SELECT COALESCE(SUM(json_extract(details, '$.reasks')), 0) FROM steps"
            f" WHERE {OK_CALL}",
        ),
        "repair": one(
            db,
            f"SELECT COALESCE(SUM(json_array_length(details, '$.repairs')), 0)"
            f" FROM steps WHERE {OK_CALL}",
        ),
        "reused": one(
            db, f"SELECT COUNT(*) FROM steps WHERE {OK_CALL} AND json_extract(details, '$.reused')"
        ),
        "qa_fail": one(db, "SELECT COUNT(*) FROM steps WHERE kind = 'qa' AND outcome = 'fail'"),
        "truncated": one(db, "SELECT COUNT(*) FROM steps WHERE outcome = 'truncated'"),
        "run_failed": one(db, "SELECT COUNT(*) FROM runs WHERE outcome = 'failed'"),
    }
    counts |= dict(
        sql(
            db,
            """SELECT 'error:' || TRIM(SUBSTR(reasoning, 1,
        INSTR(reasoning || ':', ':') - 1)), COUNT(*) FROM steps WHERE outcome = 'error'
        GROUP BY 1""",
        )
    )
    counts |= dict(
        sql(
            db,
            """SELECT outcome, COUNT(*) FROM steps WHERE outcome LIKE 'skipped:%'
        OR outcome LIKE 'sla_expired:%' OR outcome LIKE 'regeneration_skipped:%' GROUP BY 1""",
        )
    )
    return {
        "runs": {
            "total": n_runs,
            "by_outcome": outcomes_of(db),
            "by_workflow": {"TicketTriage": outcomes_of(db)},  # the fixture's runs: tickets
        },
        "latency": latency,
        "cost": {
            "total_usd": usd(one(db, "SELECT SUM(cost_usd) FROM runs")),
            "per_run": {
                "runs": n_runs,
                "mean_usd": usd(one(db, "SELECT AVG(cost_usd) FROM runs")),
                "p50_usd": nearest_rank(db, costs, 50),
                "p95_usd": nearest_rank(db, costs, 95),
                "max_usd": one(db, "SELECT MAX(cost_usd) FROM runs"),
            },
            "by_step": [
                {"step": s, "calls": c, "tokens_in": i, "tokens_out": o, "cost_usd": usd(x)}
                for s, c, i, o, x in sorted(by_step, key=lambda r: (order.get(r[0], 99), r[0]))
            ],
            "by_model": [
                {
                    "model": m,
                    "calls": c,
                    "errors": e,
                    "tokens_in": i,
                    "tokens_out": o,
                    "cost_usd": usd(x),
                }
                for m, c, e, i, o, x in by_model
            ],
            "by_outcome": [
                {"outcome": o, "runs": n, "cost_usd": usd(x), "mean_usd": usd(a)}
                for o, n, x, a in by_outcome
            ],
        },
        "avoided": {
            "model_calls": calls,
            "runs_with_model_calls": with_calls,
            "calls_per_model_run": round(per_run, 4),
            "layers": [
                {"layer": k, "runs": n, "calls_avoided": round(n * per_run, 4)}
                for k, n in settled.items()
            ]
            + [
                {
                    "layer": "cache",
                    "runs": 0,
                    "calls_avoided": 0.0,
                    "note": "one call per step served",
                }
            ],
            "calls_avoided": round(sum(round(n * per_run, 4) for n in settled.values()), 4),
        },
        "tiers": {"runs": 0, "by_tier": [], "steps": [], "cost_per_answered_usd": None},
        "reviews": {
            "runs": n_runs,
            "reviewed_runs": reviewed,
            "review_rate": round(reviewed / n_runs, 4),
            "pending": status.get("pending", 0),
            "decided": status.get("decided", 0),
            "expired": status.get("expired", 0),
            "by_route": shares(routes),
            "by_reason": shares(reasons),
            "decisions": decisions,
            "approved": actions.get("approve", 0),
            "edited": actions.get("edit", 0),
            "rejected": actions.get("reject", 0),
            "spam": actions.get("spam", 0),
            "overrides": overrides,
            "override_rate": round(overrides / decisions, 4),
            "mean_reply_edit_ratio": round(sum(ratios) / len(ratios), 4),
            "median_time_to_review_s": round(waits[len(waits) // 2], 3),  # 3 decisions: odd
        },
        "problems": {"counts": dict(sorted(counts.items()))},
    }


OK_CALL = "kind = 'model' AND outcome = 'ok'"


def outcomes_of(db) -> dict[str, int]:
    return dict(sql(db, f"SELECT {OUTCOME}, COUNT(*) FROM runs GROUP BY 1 ORDER BY 1"))


async def test_tiers_share_cost_per_answered_item_and_latency(store):
    """Four layered runs: exact (resolved, free), small (resolved), large (resolved), and
    human (approved); one run of the plain config, which the tiers leave out."""
    tag, since = uuid.uuid4().hex[:10], datetime.now(UTC)

    def final(tier: str, settled: dict, ms: float) -> StepRecord:
        details = {"decision_latency_ms": ms, "tier": tier, "settled": settled}
        return rec(9, "finalize", CODE, 1.0, "resolved", details=details)

    runs = [
        ("a", [final("exact", {"classify": "exact", "draft": "exact"}, 40.0)], 0.0),
        (
            "b",
            [
                call(1, "classify", 5, "lite", "offline", 10, 5, 1e-05),
                final("small", {"classify": "small", "draft": "small"}, 60.0),
            ],
            1e-05,
        ),
        (
            "c",
            [
                call(1, "classify", 5, "knn", "offline", 10, 5, 4e-05),
                final("large", {"classify": "small", "draft": "large"}, 80.0),
            ],
            4e-05,
        ),
    ]
    for name, steps, _ in runs:
        save(store, f"{tag}-{name}", steps, RESOLVED, 100.0)
    save(
        store,
        f"{tag}-d",
        [
            call(1, "classify", 5, "knn", "offline", 10, 5, 6e-05),
            final("human", {"classify": "large", "draft": "large"}, 90.0),
        ],
        Outcome.APPROVED,
        100.0,
        review_status="decided",
        action=ReviewAction.APPROVE,
    )
    save(store, f"{tag}-e", [rec(9, "finalize", CODE, 1.0, "resolved")], RESOLVED, 100.0)
    got = figures(store, tag, since)["tiers"]
    assert got == {
        "runs": 4,
        "by_tier": [
            {
                "tier": "exact",
                "runs": 1,
                "share": 0.25,
                "cost_usd": 0.0,
                "cost_per_answered_usd": 0.0,
                "p50_ms": 40.0,
            },
            {
                "tier": "small",
                "runs": 1,
                "share": 0.25,
                "cost_usd": 1e-05,
                "cost_per_answered_usd": 1e-05,
                "p50_ms": 60.0,
            },
            {
                "tier": "large",
                "runs": 1,
                "share": 0.25,
                "cost_usd": 4e-05,
                "cost_per_answered_usd": 4e-05,
                "p50_ms": 80.0,
            },
            {
                "tier": "human",
                "runs": 1,
                "share": 0.25,
                "cost_usd": 6e-05,
                "cost_per_answered_usd": 6e-05,
                "p50_ms": 90.0,
            },
        ],
        "steps": [
            {"step": "classify", "tier": "exact", "steps": 1},
            {"step": "classify", "tier": "small", "steps": 2},
            {"step": "classify", "tier": "large", "steps": 1},
            {"step": "draft", "tier": "exact", "steps": 1},
            {"step": "draft", "tier": "small", "steps": 1},
            {"step": "draft", "tier": "large", "steps": 2},
        ],
        "cost_per_answered_usd": 2.75e-05,  # 11e-05 over 4 answered
    }
