"""What the store says about the runs: latency against budget, cost, model calls avoided,
review and override rates, retries and errors.

    aiflow report [--since 2025-01-01T00:00] [--html report.html] [--json]

Covers the runs started at or after --since (all runs without it), with their steps,
reviews and reviewer decisions. Percentiles are nearest-rank: the p-th percentile of n
values is the ceil(p/100 * n)-th smallest, always one of the measured values. A run's
latency against the "run" budget is its decision latency: wall time minus the time it
waited for a reviewer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from activities.review_store import CorrectionRow, ReviewRow
from activities.store import RunRow, StepRow, Store, open_store
from contracts.cache import TIERS
from settings import Settings
from starter.feedback import rates, since_arg
from starter.report_tables import render_text, sections
from starter.terminal import CliParser, load_settings

PIPELINE = ["intake", "rules", "classify", "draft", "qa", "decide", "review", "finalize"]
RUN = "run"  # the latency row of whole runs (decision latency) and its budget key
# Shown even when 0; errors and skips by kind are added as they occur.
ALWAYS_SHOWN = ["retry", "fallback", "repair", "reask", "reused", "qa_fail", "truncated"]
NOT_MODEL_LAYERS = {"intake": "rejected", "rules": "closed"}  # layer -> outcome it settles


@dataclass(frozen=True)
class Rows:
    """The store's rows a report is computed from."""

    runs: list[RunRow]
    steps: list[StepRow]
    reviews: list[ReviewRow]
    corrections: list[CorrectionRow]


def load(store: Store, since: datetime | None = None) -> Rows:
    """Runs created at or after `since`, and their steps, reviews and decisions."""
    recent = RunRow.created_at >= since if since is not None else True

    def of_runs(table_: Any, *order: Any) -> list:
        query = select(table_).join(RunRow, RunRow.workflow_id == table_.workflow_id)
        return list(session.exec(query.where(recent).order_by(*order)).all())

    with Session(store.engine) as session:
        runs = list(session.exec(select(RunRow).where(recent).order_by(RunRow.workflow_id)))
        steps = of_runs(StepRow, StepRow.workflow_id, StepRow.seq)
        reviews = of_runs(ReviewRow, ReviewRow.review_id)
        corrections = of_runs(CorrectionRow, CorrectionRow.decision_id)
    return Rows(runs, steps, reviews, corrections)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the ceil(p/100 * n)-th smallest value (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def usd(value: float) -> float:
    return round(value, 10)  # sums of float prices: drop the noise below 1e-10 $


def model_calls(steps: list[StepRow]) -> int:
    """Model calls that answered (as the workflow counts them)."""
    return sum(1 for s in steps if s.kind == "model" and s.outcome == "ok")


def outcome_of(run: RunRow) -> str:
    return run.outcome or f"open:{run.stage}"


def workflow_of(run: RunRow) -> str:
    """The run's workflow type: stored with every item record; triage's rows predate it."""
    return (run.result or {}).get("workflow_type") or "TicketTriage"


def by_workflow(rows: Rows) -> dict[str, dict[str, int]]:
    pairs = Counter((workflow_of(r), outcome_of(r)) for r in rows.runs)
    out: dict[str, dict[str, int]] = {}
    for (wf, outcome), n in sorted(pairs.items()):
        out.setdefault(wf, {})[outcome] = n
    return out


def latency(rows: Rows, budgets: dict[str, float]) -> list[dict[str, Any]]:
    """p50/p95/p99/max of every record of each step, and of finished runs' decision
    latency; breaches computed from latency vs budget, and the flags the workflow stored."""
    by_step: dict[str, list[StepRow]] = defaultdict(list)
    for s in rows.steps:
        by_step[s.step].append(s)
    names = [n for n in PIPELINE if n in by_step] + sorted(set(by_step) - set(PIPELINE))
    out = []
    for name in names:
        records = by_step[name]
        budget = budgets.get(name)
        timed = [s for s in records if s.kind != "human"]  # a reviewer's wait has no budget
        out.append(
            _latency_row(
                name,
                [s.latency_ms for s in records],
                budget,
                sum(1 for s in timed if budget is not None and s.latency_ms > budget),
                sum(1 for s in records if (s.details or {}).get("over_budget") is True),
            )
        )
    waited: Counter[str] = Counter()
    for s in rows.steps:
        if s.kind == "human":
            waited[s.workflow_id] += s.latency_ms
    finished = [r for r in rows.runs if r.outcome is not None]
    decision = [round(r.latency_ms - waited[r.workflow_id], 3) for r in finished]
    budget = budgets.get(RUN)
    flagged = sum(
        1
        for s in rows.steps
        if s.step == "finalize" and (s.details or {}).get("run_over_budget") is True
    )
    over = sum(1 for v in decision if budget is not None and v > budget)
    out.append(_latency_row(RUN, decision, budget, over, flagged))
    return out


def _latency_row(
    name: str, values: list[float], budget: float | None, over: int, flagged: int
) -> dict[str, Any]:
    return {
        "step": name,
        "records": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values) if values else None,
        "budget_ms": budget,
        "over_budget": over,
        "flagged": flagged,
    }


def cost(rows: Rows) -> dict[str, Any]:
    """Cost per run, per step, per model and per outcome."""
    costs = [r.cost_usd for r in rows.runs]
    steps: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    for s in rows.steps:
        g = steps.setdefault(s.step, {"step": s.step, "calls": 0, "tokens_in": 0, "tokens_out": 0})
        g["cost_usd"] = g.get("cost_usd", 0.0) + s.cost_usd
        if s.kind == "model" and s.model:
            label = f"{s.provider}/{s.model}" if s.provider else s.model
            m = models.setdefault(
                label,
                {"model": label, "calls": 0, "errors": 0, "tokens_in": 0, "tokens_out": 0},
            )
            m["cost_usd"] = m.get("cost_usd", 0.0) + s.cost_usd
            m["errors"] += s.outcome == "error"
            for g_ in (g, m):
                g_["calls"] += s.outcome == "ok"
                g_["tokens_in"] += s.input_tokens
                g_["tokens_out"] += s.output_tokens
    by_outcome: dict[str, list[float]] = defaultdict(list)
    for r in rows.runs:
        by_outcome[outcome_of(r)].append(r.cost_usd)
    order = {n: i for i, n in enumerate(PIPELINE)}
    return {
        "total_usd": usd(sum(costs)),
        "per_run": {
            "runs": len(costs),
            "mean_usd": usd(sum(costs) / len(costs)) if costs else None,
            "p50_usd": percentile(costs, 50),
            "p95_usd": percentile(costs, 95),
            "max_usd": max(costs) if costs else None,
        },
        "by_step": [
            g | {"cost_usd": usd(g["cost_usd"])}
            for g in sorted(steps.values(), key=lambda g: (order.get(g["step"], 99), g["step"]))
        ],
        "by_model": [m | {"cost_usd": usd(m["cost_usd"])} for _, m in sorted(models.items())],
        "by_outcome": [
            {
                "outcome": o,
                "runs": len(c),
                "cost_usd": usd(sum(c)),
                "mean_usd": usd(sum(c) / len(c)),
            }
            for o, c in sorted(by_outcome.items())
        ],
    }


def avoided(rows: Rows) -> dict[str, Any]:
    """Model calls not made because a cheaper layer settled the run first. A settled run
    is counted as the mean model calls of the runs that did call a model."""
    calls: Counter[str] = Counter()
    touched: set[str] = set()  # runs with any model record (an answer, error or skip)
    for s in rows.steps:
        if s.kind == "model":
            touched.add(s.workflow_id)
            calls[s.workflow_id] += s.outcome == "ok"
    with_model = [w for w in calls if calls[w] > 0]
    per_run = sum(calls.values()) / len(with_model) if with_model else 0.0
    layers = []
    for layer, outcome in NOT_MODEL_LAYERS.items():
        settled = sum(1 for r in rows.runs if r.outcome == outcome and r.workflow_id not in touched)
        layers.append(
            {"layer": layer, "runs": settled, "calls_avoided": round(settled * per_run, 4)}
        )
    hits = [s for s in rows.steps if s.kind == "cache" and s.outcome.startswith("hit:")]
    layers.append(
        {
            "layer": "cache",
            "runs": len({s.workflow_id for s in hits}),
            "calls_avoided": float(len(hits)),
            "note": "one call per step served",
        }
    )
    return {
        "model_calls": sum(calls.values()),
        "runs_with_model_calls": len(with_model),
        "calls_per_model_run": round(per_run, 4),
        "layers": layers,
        "calls_avoided": round(sum(g["calls_avoided"] for g in layers), 4),
    }


ANSWERED = {"resolved", "approved", "edited"}  # an answer reached the customer


def tiers(rows: Rows) -> dict[str, Any]:
    """Which tier of the ladder settled the runs (their finalize record says, on the
    layered config) and their steps: share, cost, cost per answered item, latency."""
    runs = {r.workflow_id: r for r in rows.runs}
    final = {
        s.workflow_id: s.details
        for s in rows.steps
        if s.step == "finalize" and "tier" in (s.details or {}) and s.workflow_id in runs
    }
    by_tier: dict[str, list[RunRow]] = defaultdict(list)
    steps: Counter[tuple[str, str]] = Counter()
    for wf, d in final.items():
        by_tier[d["tier"]].append(runs[wf])
        steps.update((step, t) for step, t in (d.get("settled") or {}).items())
    latency_of = {wf: d.get("decision_latency_ms") for wf, d in final.items()}
    n = len(final)
    out = []
    for tier in TIERS:
        group = by_tier.get(tier, [])
        if not group:
            continue
        cost_ = sum(r.cost_usd for r in group)
        answered = sum(1 for r in group if outcome_of(r) in ANSWERED)
        lat = [latency_of[r.workflow_id] for r in group if latency_of[r.workflow_id] is not None]
        out.append(
            {
                "tier": tier,
                "runs": len(group),
                "share": round(len(group) / n, 4),
                "cost_usd": usd(cost_),
                "cost_per_answered_usd": usd(cost_ / answered) if answered else None,
                "p50_ms": percentile(lat, 50),
            }
        )
    all_answered = sum(1 for wf in final if outcome_of(runs[wf]) in ANSWERED)
    total = sum(runs[wf].cost_usd for wf in final)
    return {
        "runs": n,
        "by_tier": out,
        "steps": [
            {"step": step, "tier": t, "steps": c}
            for (step, t), c in sorted(steps.items(), key=lambda x: (x[0][0], TIERS.index(x[0][1])))
        ],
        "cost_per_answered_usd": usd(total / all_answered) if all_answered else None,
    }


def reviews(rows: Rows) -> dict[str, Any]:
    """Review rate (runs sent to a reviewer, of all runs) and reviewer decisions;
    override = edit, reject or spam, of all decisions. The share of all runs each review
    route and each review reason takes (a run's reasons all count, so reasons overlap)."""
    reviewed = {r.workflow_id for r in rows.reviews}
    status = Counter(r.status for r in rows.reviews)
    n = len(rows.runs)
    first = {}  # a run's first review: where it was sent and why
    for r in sorted(rows.reviews, key=lambda r: r.requested_at):
        first.setdefault(r.workflow_id, r)
    routes = Counter(r.queue for r in first.values())
    reasons = Counter(reason for r in first.values() for reason in dict.fromkeys(r.reasons))

    def shares(c: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"name": k, "runs": v, "share": round(v / n, 4) if n else None}
            for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    return {
        "runs": n,
        "reviewed_runs": len(reviewed),
        "review_rate": round(len(reviewed) / n, 4) if n else None,
        "pending": status["pending"],
        "decided": status["decided"],
        "expired": status["expired"],
        "by_route": shares(routes),
        "by_reason": shares(reasons),
        **rates(rows.corrections),
    }


def problems(rows: Rows) -> dict[str, Any]:
    """Retries, fallbacks, repairs, errors by kind and other things that went wrong."""
    c: Counter[str] = Counter(dict.fromkeys(ALWAYS_SHOWN, 0))
    for s in rows.steps:
        d = s.details or {}
        if s.kind == "model" and s.outcome == "ok":
            c["retry"] += max(0, (s.attempt or 1) - 1)
            c["fallback"] += bool(d.get("fallbacks"))
            repairs = d.get("repairs", 0)
            c["repair"] += len(repairs) if isinstance(repairs, list) else int(repairs)
            c["reask"] += int(d.get("reasks", 0))
            c["reused"] += bool(d.get("reused"))
        if s.outcome == "error":
            c["error:" + ((s.reasoning or "unknown").split(":", 1)[0].strip() or "unknown")] += 1
        elif s.outcome.startswith(("skipped:", "sla_expired:", "regeneration_skipped:")):
            c[s.outcome] += 1
        elif s.outcome == "truncated" or (s.kind == "qa" and s.outcome == "fail"):
            c["qa_fail" if s.kind == "qa" else "truncated"] += 1
    c["run_failed"] = sum(1 for r in rows.runs if r.outcome == "failed")
    return {"counts": {k: v for k, v in sorted(c.items())}}


def build(rows: Rows, budgets: dict[str, float], since: datetime | None = None) -> dict:
    outcomes = Counter(outcome_of(r) for r in rows.runs)
    return {
        "since": since.isoformat() if since else None,
        "runs": {
            "total": len(rows.runs),
            "by_outcome": dict(sorted(outcomes.items())),
            "by_workflow": by_workflow(rows),
        },
        "latency": latency(rows, budgets),
        "cost": cost(rows),
        "avoided": avoided(rows),
        "tiers": tiers(rows),
        "reviews": reviews(rows),
        "problems": problems(rows),
    }


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog="aiflow report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--since", type=since_arg, help="runs started at or after (ISO 8601, UTC)")
    p.add_argument(
        "--html", type=Path, metavar="PATH", help="also write an HTML report with charts"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON, not tables")
    return p


def main(
    argv: list[str] | None = None, client: object = None, settings: Settings | None = None
) -> int:
    """`client` is accepted like every starter command's; the report reads the store."""
    args = parser().parse_args(argv)
    settings = settings or load_settings()
    with open_store(settings.store_url) as store:
        report = build(load(store, args.since), settings.step_latency_budgets_ms, args.since)
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    if args.html:
        from starter.report_html import write_html  # matplotlib: only when asked for

        write_html(report, sections(report), args.html)
        print(f"wrote {args.html}", file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
