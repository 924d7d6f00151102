"""The report's tables: the same (title, header, rows) for the terminal and the HTML."""

from __future__ import annotations

from typing import Any

from starter.tables import table


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"  # sub-millisecond code steps stay visible


def _usd(v: float | None) -> str:
    return "-" if v is None else f"{v:.6f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def sections(r: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table; the terminal and the HTML show the same."""
    c, a, v = r["cost"], r["avoided"], r["reviews"]
    pr = c["per_run"]
    per_run = "the mean of the runs that called a model"
    return [
        (
            "Runs by outcome",
            ["outcome", "runs"],
            [[k, str(n)] for k, n in r["runs"]["by_outcome"].items()]
            + [["all", str(r["runs"]["total"])]],
        ),
        (
            "Runs by workflow",
            ["workflow", "runs", "outcomes"],
            [
                [wf, str(sum(by.values())), ", ".join(f"{o} {n}" for o, n in by.items())]
                for wf, by in r["runs"].get("by_workflow", {}).items()
            ],
        ),
        (
            "Latency (ms) against budget",
            ["step", "records", "p50", "p95", "p99", "max", "budget", "over", "flagged"],
            [
                [g["step"], str(g["records"])]
                + [_ms(g[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "budget_ms")]
                + [str(g["over_budget"]), str(g["flagged"])]
                for g in r["latency"]
            ],
        ),
        (
            "Cost per run (USD)",
            ["runs", "total", "mean", "p50", "p95", "max"],
            [
                [str(pr["runs"]), _usd(c["total_usd"])]
                + [_usd(pr[k]) for k in ("mean_usd", "p50_usd", "p95_usd", "max_usd")]
            ],
        ),
        (
            "Cost by step (USD)",
            ["step", "model calls", "tokens in", "tokens out", "cost"],
            [
                _counts(g, "step", "calls", "tokens_in", "tokens_out")
                for g in c["by_step"]
                if g["calls"] or g["tokens_in"] or g["cost_usd"]  # code steps cost nothing
            ],
        ),
        (
            "Cost by model (USD)",
            ["model", "calls", "errors", "tokens in", "tokens out", "cost"],
            [
                _counts(m, "model", "calls", "errors", "tokens_in", "tokens_out")
                for m in c["by_model"]
            ],
        ),
        (
            "Cost by outcome (USD)",
            ["outcome", "runs", "cost", "mean"],
            [
                [g["outcome"], str(g["runs"]), _usd(g["cost_usd"]), _usd(g["mean_usd"])]
                for g in c["by_outcome"]
            ],
        ),
        (
            f"Model calls avoided (a settled run counts {a['calls_per_model_run']:.2f}"
            f" calls, {per_run})",
            ["layer", "runs settled", "calls avoided", "note"],
            [
                [g["layer"], str(g["runs"]), f"{g['calls_avoided']:.2f}", g.get("note", "")]
                for g in a["layers"]
            ]
            + [["all", "", f"{a['calls_avoided']:.2f}", f"{a['model_calls']} calls made"]],
        ),
        (
            f"Tiers of the ladder ({r['tiers']['runs']} runs on it; cost per answered item "
            f"{_usd(r['tiers']['cost_per_answered_usd'])})",
            ["tier", "runs", "share", "cost", "cost per answered", "p50 ms"],
            [
                [
                    g["tier"],
                    str(g["runs"]),
                    _pct(g["share"]),
                    _usd(g["cost_usd"]),
                    _usd(g["cost_per_answered_usd"]),
                    _ms(g["p50_ms"]),
                ]
                for g in r["tiers"]["by_tier"]
            ],
        ),
        (
            "Steps settled, by tier",
            ["step", "tier", "steps"],
            [[g["step"], g["tier"], str(g["steps"])] for g in r["tiers"]["steps"]],
        ),
        (
            "Reviews (override = edit, reject or spam)",
            [
                "runs",
                "reviewed",
                "review rate",
                "pending",
                "decisions",
                "approve",
                "edit",
                "reject",
                "spam",
                "override rate",
            ],
            [
                [
                    str(v["runs"]),
                    str(v["reviewed_runs"]),
                    _pct(v["review_rate"]),
                    str(v["pending"]),
                    str(v["decisions"]),
                    str(v["approved"]),
                    str(v["edited"]),
                    str(v["rejected"]),
                    str(v["spam"]),
                    _pct(v["override_rate"]),
                ]
            ],
        ),
        (
            "Review share by route (of all runs)",
            ["route", "runs", "share"],
            [[g["name"], str(g["runs"]), _pct(g["share"])] for g in v["by_route"]],
        ),
        (
            "Review share by reason (of all runs; a run may have several)",
            ["reason", "runs", "share"],
            [[g["name"], str(g["runs"]), _pct(g["share"])] for g in v["by_reason"]],
        ),
        (
            "Retries and errors",
            ["kind", "count"],
            [[k, str(n)] for k, n in r["problems"]["counts"].items()],
        ),
    ]


def _counts(g: dict[str, Any], label: str, *ints: str) -> list[str]:
    return [g[label], *(str(g[k]) for k in ints), _usd(g["cost_usd"])]


def render_text(report: dict) -> str:
    return "\n\n".join(f"{title}\n{table(head, rows)}" for title, head, rows in sections(report))
