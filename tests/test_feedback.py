"""`aiflow feedback`: corrections stored by `Store.save_run` on SQLite and PostgreSQL come
out as fine-tuning examples, an evaluation set and override rates that match them exactly;
and once end to end, from reviews decided on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlmodel import Session

from activities.prompts import PromptLibrary
from activities.review_store import CorrectionRow, ReviewRow, edit_ratio
from activities.store import RunRow, StepRow, Store
from contracts import PromptRef
from starter import feedback, reviews
from tests.conftest import ROOT, make_settings, running_worker
from tests.feedback_data import DECISIONS, TICKETS, save_all
from tests.test_processes import aiflow, base_env
from tests.test_review_workflow import decision, open_review

V1, DRAFT_V2 = "triage.classify@v1", "triage.draft@v2"


def prompt_folder(tmp_path: Path) -> Path:
    """The shipped prompts plus a triage.draft v2 whose system text differs."""
    data = tmp_path / "data"
    (data / "prompts").mkdir(parents=True)
    for f in (ROOT / "data" / "prompts").glob("*.toml"):
        shutil.copy(f, data / "prompts" / f.name)
    v1 = (data / "prompts" / "triage.draft.v1.toml").read_text()
    v2 = v1.replace('version = "v1"', 'version = "v2"').replace(
        "Be concrete about next steps.", "Be concrete about next steps and keep it short."
    )
    (data / "prompts" / "triage.draft.v2.toml").write_text(v2)
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path}/feedback.db")
    else:  # one database per session: empty the tables this test reads
        s = Store(request.getfixturevalue("pg_url"))
    s.create_schema()
    with Session(s.engine) as session:
        for table in (CorrectionRow, ReviewRow, StepRow, RunRow):
            session.exec(delete(table))
        session.commit()
    save_all(s)
    yield s
    s.close()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_export(store: Store, tmp_path: Path, *extra: str) -> tuple[Path, int]:
    data = prompt_folder(tmp_path)
    settings = make_settings(tmp_path, data_dir=data, database_url=store.url)
    out = tmp_path / "out"
    code = feedback.main(["export", "--out", str(out), *extra], settings=settings)
    return out, code


def expected_finetune(lib: PromptLibrary, decisions: list[dict]) -> list[dict]:
    """Rendered here from the fixture's own data, not from the exporter's code."""
    lines = []
    for d in decisions:
        if d["action"] == "reject":
            continue
        t, final = TICKETS[d["ticket"]], d["final"]
        classify = {
            "subject": t["subject"],
            "body": t["body"],
            "language_hint": t["language"],
            "customer_tier": t["customer_tier"],
            "channel": t["channel"],
        }
        draft = {
            "subject": t["subject"],
            "body": t["body"],
            "customer_name": t["customer_name"],
            "category": final["category"],
            "priority": final["priority"],
            "language": d["language"],
            "ticket_id": t["ticket_id"],
            "qa_feedback": [],
            "attempt": 1,
        }
        for prompt_id, variables, answer in [
            ("triage.classify", classify, d["classify_answer"]),
            ("triage.draft", draft, d["draft_answer"]),
        ]:
            version = next(p for p in d["prompts"] if p.startswith(prompt_id + "@"))
            ref = PromptRef(id=prompt_id, version=version.split("@")[1], sha256="")
            messages = [m.model_dump() for m in lib.get(ref).render(variables)]
            assistant = {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)}
            lines.append({"messages": [*messages, assistant]})
    return lines


def group(decisions, approved, edited, rejected, ratio, p50) -> dict:
    overrides = edited + rejected
    return {
        "decisions": decisions,
        "approved": approved,
        "edited": edited,
        "rejected": rejected,
        "spam": 0,
        "overrides": overrides,
        "override_rate": round(overrides / decisions, 4),
        "mean_reply_edit_ratio": ratio,
        "median_time_to_review_s": p50,
    }


EDITED = [d for d in DECISIONS if d["id"] == "d-2"][0]
R2 = edit_ratio(EDITED["proposal"]["reply"], EDITED["final"]["reply"])


def test_export_matches_the_stored_corrections(store, tmp_path):
    out, code = run_export(store, tmp_path)
    assert code == 0
    rows = store.corrections()
    assert [r.decision_id for r in rows] == ["d-1", "d-2", "d-3", "d-4", "d-5"]
    assert sorted(p.name for p in out.iterdir()) == [
        *("eval.jsonl", "field_corrections.jsonl", "finetune.jsonl", "spam.jsonl"),
        "summary.json",
    ]
    assert (out / "field_corrections.jsonl").read_text() == ""  # tickets only: none

    lib = PromptLibrary(tmp_path / "data" / "prompts")
    finetune = read_jsonl(out / "finetune.jsonl")
    assert len(finetune) == 8  # classify + draft for 4 approved/edited; none for the reject
    assert finetune == expected_finetune(lib, DECISIONS)
    # the v2 draft prompt really was rendered for d-4 and d-5
    systems = [line["messages"][0]["content"] for line in finetune[1::2]]
    assert ["keep it short" in s for s in systems] == [False, False, True, True]

    cases = read_jsonl(out / "eval.jsonl")
    assert cases == [
        {
            "id": row.decision_id,
            "ticket_id": row.ticket_id,
            "input": TICKETS[d["ticket"]],
            "expected": d["final"],
            "rejected": d["action"] == "reject",
            "reason": d["reason"],
            "action": d["action"],
            "proposal": d["proposal"],
            "prompt_versions": d["prompts"],
            "models": ["offline-knn-v1", "offline-template-v1"],
        }
        for row, d in zip(rows, DECISIONS, strict=True)
    ]
    for row, case in zip(rows, cases, strict=True):  # and the rows say the same
        assert (case["expected"], case["action"], case["reason"]) == (
            row.final,
            row.action,
            row.reason,
        )
    assert [r.reply_edit_ratio for r in rows] == [0.0, R2, None, 0.0, 0.0]
    assert 0 < R2 < 1

    summary = json.loads((out / "summary.json").read_text())
    mean = round((0.0 + R2 + 0.0 + 0.0) / 4, 4)
    assert summary == {
        **group(5, 2, 2, 1, mean, 90.0),
        "by_prompt_version": {
            "triage.classify@v1": group(5, 2, 2, 1, mean, 90.0),
            "triage.draft@v1": group(3, 1, 1, 1, round(R2 / 2, 4), 120.0),
            "triage.draft@v2": group(2, 1, 1, 0, 0.0, 60.0),
        },
        "by_category": {
            "account": group(1, 1, 0, 0, 0.0, 90.0),
            "billing": group(2, 1, 1, 0, 0.0, 45.0),
            "shipping": group(1, 0, 1, 0, R2, 120.0),
            "technical": group(1, 0, 0, 1, None, 300.0),
        },
        "reasons": {"not_a_support_request": 1, "priority_too_low": 1, "wrong_category": 1},
        "changed_fields": {"category": 1, "priority": 1, "reply": 1},
        "finetune_examples": 8,
        "eval_cases": 5,
        "spam_examples": 4,
        "skipped_examples": [],
    }
    # approved and edited tickets are not spam; a reject says neither
    assert read_jsonl(out / "spam.jsonl") == [
        {
            "id": d["id"],
            "subject": TICKETS[d["ticket"]]["subject"],
            "body": TICKETS[d["ticket"]]["body"],
            "sender": TICKETS[d["ticket"]]["customer_email"],
            "headers": {},
            "label": "ham",
        }
        for d in DECISIONS
        if d["action"] != "reject"
    ]
    assert summary["by_prompt_version"]["triage.draft@v1"]["override_rate"] == 0.6667  # 2/3


def test_export_filters_by_prompt_version_and_time(store, tmp_path):
    out, _ = run_export(store, tmp_path, "--prompt-version", DRAFT_V2)
    assert [c["id"] for c in read_jsonl(out / "eval.jsonl")] == ["d-4", "d-5"]
    assert len(read_jsonl(out / "finetune.jsonl")) == 4
    since = DECISIONS[2]["decided_at"].isoformat()  # d-3 and later
    out2, _ = run_export(store, tmp_path / "b", "--since", since, "--prompt-version", V1)
    assert [c["id"] for c in read_jsonl(out2 / "eval.jsonl")] == ["d-3", "d-4", "d-5"]
    naive = (DECISIONS[3]["decided_at"] - timedelta(seconds=1)).replace(tzinfo=None)
    out3, _ = run_export(store, tmp_path / "c", "--since", naive.isoformat())  # read as UTC
    assert [c["id"] for c in read_jsonl(out3 / "eval.jsonl")] == ["d-4", "d-5"]


def test_a_prompt_version_no_longer_deployed_skips_only_its_examples(store, tmp_path):
    settings = make_settings(tmp_path, database_url=store.url)  # shipped prompts: no draft v2
    assert feedback.main(["export", "--out", str(tmp_path / "o")], settings=settings) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    why = "prompt triage.draft@v2 is not deployed on this worker"
    assert summary["skipped_examples"] == [
        {"decision_id": "d-4", "why": why},
        {"decision_id": "d-5", "why": why},
    ]
    finetune = read_jsonl(tmp_path / "o" / "finetune.jsonl")
    assert (len(finetune), summary["finetune_examples"], summary["eval_cases"]) == (6, 6, 5)


def test_a_retried_persist_does_not_duplicate_a_decision(store, tmp_path):
    save_all(store)  # the local activity retried after its commit
    out, _ = run_export(store, tmp_path)
    assert len(read_jsonl(out / "eval.jsonl")) == 5
    assert len(read_jsonl(out / "finetune.jsonl")) == 8


STATS_TABLE = """\
group                          decisions approve  edit reject override reply edit review p50
prompt triage.classify@v1              5       2     2      1    60.0%      {mean}      90.0s
prompt triage.draft@v1                 3       1     1      1    66.7%      {half}     120.0s
prompt triage.draft@v2                 2       1     1      0    50.0%      0.000      60.0s
category account                       1       1     0      0     0.0%      0.000      90.0s
category billing                       2       1     1      0    50.0%      0.000      45.0s
category shipping                      1       0     1      0   100.0%      {r2}     120.0s
category technical                     1       0     0      1   100.0%          -     300.0s
all                                    5       2     2      1    60.0%      {mean}      90.0s
"""


async def test_cli_prints_the_table(tmp_path):
    s = Store(f"sqlite:///{tmp_path}/cli.db")
    s.create_schema()
    save_all(s)
    s.close()
    env = base_env(tmp_path, DATABASE_URL=s.url, AIFLOW_DATA_DIR=str(prompt_folder(tmp_path / "d")))
    stats, export = await asyncio.gather(
        aiflow("feedback", "stats", env=env, cwd=tmp_path),
        aiflow("feedback", "export", "--out", str(tmp_path / "out"), env=env, cwd=tmp_path),
    )
    table = STATS_TABLE.format(
        mean=f"{round(R2 / 4, 4):.3f}", half=f"{round(R2 / 2, 4):.3f}", r2=f"{R2:.3f}"
    )
    assert (stats.code, stats.out, stats.err) == (0, table, "")
    assert export.code == 0, export
    assert export.out == table + (
        f"wrote {tmp_path / 'out'}: finetune.jsonl (8 examples), eval.jsonl (5 cases),"
        " spam.jsonl (4 labelled), summary.json, field_corrections.jsonl (0 corrected fields)\n"
    )


async def test_end_to_end_reviews_decided_on_temporal_export_as_stored(env, settings, tmp_path):
    async with running_worker(env.client, settings):
        tickets = []
        for action, fields in [
            ("approve", {}),
            (
                "edit",
                {
                    "category": "account",
                    "reply": "Hello Maria,\n\nwe are checking the"
                    " second charge and will write again within two days.\n\n"
                    "Best regards,\naiflow Support",
                },
            ),
            ("reject", {"reason": "duplicate_ticket"}),
        ]:
            handle, tid = await open_review(env.client, settings)
            await reviews.decide(env.client, tid, decision(action, **fields))
            await handle.result()
            tickets.append(tid)
    out = tmp_path / "export"
    assert feedback.main(["export", "--out", str(out)], settings=settings) == 0
    store = Store(settings.store_url)
    rows = store.corrections()
    store.close()
    assert [(r.ticket_id, r.action) for r in rows] == list(
        zip(tickets, ["approve", "edit", "reject"], strict=True)
    )
    cases = read_jsonl(out / "eval.jsonl")
    assert [(c["id"], c["ticket_id"], c["action"]) for c in cases] == [
        (r.decision_id, r.ticket_id, r.action) for r in rows
    ]
    assert [c["expected"] for c in cases] == [rows[0].final, rows[1].final, None]
    assert rows[1].final["category"] == "account" and rows[1].changed_fields == [
        "category",
        "reply",
    ]
    assert [c["input"]["ticket_id"] for c in cases] == tickets
    assert all(c["prompt_versions"] == [V1, "triage.draft@v1"] for c in cases)
    assert all(c["models"] == ["offline-knn-v1", "offline-template-v1"] for c in cases)
    finetune = read_jsonl(out / "finetune.jsonl")
    assert len(finetune) == 4
    answers = [json.loads(f["messages"][2]["content"]) for f in finetune]
    assert [(a["category"], a["priority"]) for a in answers[0::2]] == [
        ("billing", "high"),
        ("account", "high"),
    ]
    assert [a["reply"] for a in answers[1::2]] == [rows[0].final["reply"], rows[1].final["reply"]]
    lib = PromptLibrary(settings.data_dir / "prompts")
    user = lib.latest("triage.classify").render(
        {
            "subject": "Charged twice for my subscription",
            "body": cases[0]["input"]["body"],
            "language_hint": None,
            "customer_tier": "vip",
            "channel": "email",
        }
    )[1]
    assert finetune[0]["messages"][1] == user.model_dump()
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["decisions"], summary["overrides"], summary["override_rate"]) == (3, 2, 0.6667)
    assert summary["by_category"]["billing"]["decisions"] == 3
    assert summary["median_time_to_review_s"] == sorted(r.time_to_review_s for r in rows)[1]
