"""The report as one self-contained HTML file: matplotlib charts as base64 PNGs, and the
same tables as the terminal. Imported only by `aiflow report --html` (matplotlib is slow
to import)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

Table = tuple[str, list[str], list[list[str]]]
P_COLORS = {"p50": "#4c78a8", "p95": "#f58518", "p99": "#e45756"}
BUDGET_COLOR = "#222222"


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def latency_chart(report: dict) -> Figure:
    """p50/p95/p99 per step beside its budget, log scale (model steps take seconds). Left
    out: a reviewer's wait (hours, not latency) and steps under 1 ms (workflow code, where
    no workflow time passes); the tables have them."""
    rows = [
        g
        for g in report["latency"]
        if g["records"] and g["step"] != "review" and max(g["max_ms"], g["budget_ms"] or 0) >= 1
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.26
    budget_shown = False
    floor = 0.5  # log scale: a step with a 0 ms percentile is drawn at the floor
    for i, g in enumerate(rows):
        for j, p in enumerate(("p50", "p95", "p99")):
            value = max(g[f"{p}_ms"], floor)
            ax.bar(
                i + (j - 1) * width, value, width, color=P_COLORS[p], label=p if i == 0 else None
            )
        if g["budget_ms"] is not None:
            ax.hlines(
                g["budget_ms"],
                i - 1.6 * width,
                i + 1.6 * width,
                colors=BUDGET_COLOR,
                linestyles="--",
                linewidth=2,
                label=None if budget_shown else "budget",
            )
            budget_shown = True
            if g["over_budget"]:
                ax.annotate(
                    f"{g['over_budget']} of {g['records']} over",
                    (i + 1.6 * width, g["budget_ms"]),
                    ha="right",
                    va="bottom",
                    xytext=(0, 4),
                    textcoords="offset points",
                    color="#b00020",
                    fontsize=8,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#b00020"},
                )
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [f"{g['step']}\n(n={g['records']})" for g in rows])
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(
        "Latency percentiles against budget per step\n(run = decision latency; steps under"
        " 1 ms and reviewer waits: see the tables)",
        fontsize=10,
    )
    if rows:
        top = max(max(g["max_ms"], g["budget_ms"] or 0) for g in rows)
        ax.set_ylim(floor * 0.8, top * 4)  # headroom for the "over" labels
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=4, fontsize=8)
    ax.grid(axis="y", which="major", alpha=0.3)
    return fig


def hbars(ax: Any, labels: list[str], values: list[float], title: str, fmt: str) -> None:
    ax.barh(labels, values, color="#4c78a8")
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    top = max(values, default=0) or 1
    ax.set_xlim(0, top * 1.35)  # room for the value labels
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # small prices: long tick labels
    for y, v in enumerate(values):
        ax.annotate(
            fmt.format(v),
            (v, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.tick_params(axis="both", labelsize=8)


def cost_chart(report: dict) -> Figure:
    c = report["cost"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    spent = [g for g in c["by_step"] if g["cost_usd"]]
    hbars(axes[0], [g["step"] for g in spent], [g["cost_usd"] for g in spent], "by step", "${:.6f}")
    hbars(
        axes[1],
        [m["model"] for m in c["by_model"]],
        [m["cost_usd"] for m in c["by_model"]],
        "by model",
        "${:.6f}",
    )
    hbars(
        axes[2],
        [f"{g['outcome']} ({g['runs']})" for g in c["by_outcome"]],
        [g["cost_usd"] for g in c["by_outcome"]],
        "by outcome (runs)",
        "${:.6f}",
    )
    fig.suptitle(f"Cost, USD (total ${c['total_usd']:.6f})")
    fig.tight_layout()
    return fig


def outcome_chart(report: dict) -> Figure:
    by = report["runs"]["by_outcome"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), width_ratios=[3, 2])
    hbars(
        axes[0], list(by), list(by.values()), f"Runs by outcome ({report['runs']['total']})", "{:d}"
    )
    a = report["avoided"]
    hbars(
        axes[1],
        ["made", *(f"avoided: {g['layer']}" for g in a["layers"])],
        [a["model_calls"], *(g["calls_avoided"] for g in a["layers"])],
        f"Model calls (settled run = {a['calls_per_model_run']:.2f} calls)",
        "{:.1f}",
    )
    fig.tight_layout()
    return fig


def review_chart(report: dict) -> Figure:
    v = report["reviews"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    rates = {"review rate": v["review_rate"] or 0.0, "override rate": v["override_rate"] or 0.0}
    hbars(
        axes[0],
        list(rates),
        [100 * x for x in rates.values()],
        f"Rates, % ({v['reviewed_runs']}/{v['runs']} runs reviewed, "
        f"{v['overrides']}/{v['decisions']} decisions overridden)",
        "{:.1f}%",
    )
    axes[0].set_xlim(0, 100)
    counts = {
        "pending": v["pending"],
        "approve": v["approved"],
        "edit": v["edited"],
        "reject": v["rejected"],
        "spam": v["spam"],
        "expired": v["expired"],
    }
    hbars(axes[1], list(counts), list(counts.values()), "Reviews: open and decided", "{:d}")
    fig.tight_layout()
    return fig


def tier_chart(report: dict) -> Figure:
    t = report["tiers"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    groups = t["by_tier"]
    hbars(
        axes[0],
        [g["tier"] for g in groups],
        [100 * g["share"] for g in groups],
        "runs, %",
        "{:.1f}",
    )
    hbars(
        axes[1],
        [g["tier"] for g in groups],
        [g["cost_per_answered_usd"] or 0.0 for g in groups],
        "cost per answered item",
        "${:.6f}",
    )
    fig.suptitle(f"Tiers of the ladder ({t['runs']} runs)")
    fig.tight_layout()
    return fig


CHARTS = [
    ("Latency against budget", latency_chart),
    ("Cost", cost_chart),
    ("Outcomes and model calls avoided", outcome_chart),
    ("Tiers of the ladder", tier_chart),
    ("Reviews and overrides", review_chart),
]


def charts(report: dict) -> list[tuple[str, bytes]]:
    """(title, PNG bytes) of every chart."""
    return [(title, png(draw(report))) for title, draw in CHARTS]


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:2px 10px;text-align:left;
border-bottom:1px solid #ddd}th{background:#f4f4f4}img{max-width:100%;display:block;
margin:.5em 0 1.5em}h2{margin-top:1.5em}"""


def html_table(title: str, head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    cells = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<h3>{e(title)}</h3>\n<table><tr>{cells}</tr>{body}</table>"


def render_html(report: dict, tables: list[Table]) -> str:
    since = report["since"] or "the first run"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>aiflow report</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>aiflow report</h1><p>{report['runs']['total']} runs since {html.escape(since)}."
        " Percentiles are nearest-rank.</p>",
        "<h2>Charts</h2>",
    ]
    for title, data in charts(report):
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(
            f'<h3>{html.escape(title)}</h3>\n<img src="data:image/png;base64,{b64}" '
            f'alt="{html.escape(title)}">'
        )
    parts.append("<h2>Tables</h2>")
    parts += [html_table(*t) for t in tables]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: dict, tables: list[Table], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, tables), encoding="utf-8")
