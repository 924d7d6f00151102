"""aiflow's own metrics, emitted from workflow code through Temporal's metric meter.

`workflow.metric_meter()` is replay-safe (nothing is emitted while a worker replays
history), and exports through the worker's runtime: the same Prometheus endpoint as
Temporal's own SDK metrics (`AIFLOW_METRICS_ADDRESS`). Every name is declared here once;
label values are bounded (steps, models, outcome families, reason codes), never ids.
"""

from __future__ import annotations

from temporalio import workflow

from contracts import StepKind, StepRecord


def family(outcome: str) -> str:
    """`skipped:breaker_open` → `skipped`: outcome labels stay few."""
    return outcome.split(":", 1)[0]


def step_recorded(record: StepRecord) -> None:
    """Counters and histograms for one step record (latency, calls, tokens, cost)."""
    m = workflow.metric_meter()
    labels = {"step": record.step, "kind": record.kind.value}
    m.create_histogram_float(
        "aiflow_step_latency_ms", "Step latency (workflow clock)", "ms"
    ).record(record.latency_ms, labels)
    m.create_counter("aiflow_steps", "Steps recorded, by outcome family").add(
        1, {**labels, "outcome": family(record.outcome)}
    )
    if record.details.get("over_budget"):
        m.create_counter("aiflow_latency_budget_breaches", "Steps over their latency budget").add(
            1, {"step": record.step}
        )
    if record.kind != StepKind.MODEL or record.model is None:
        return
    model = {"step": record.step, "model": record.model, "provider": record.provider or ""}
    m.create_counter("aiflow_model_calls", "Model calls by outcome family").add(
        1, {**model, "outcome": family(record.outcome)}
    )
    if record.outcome != "ok":
        return
    tokens = m.create_counter("aiflow_model_tokens", "Tokens used (estimated when marked)")
    tokens.add(record.input_tokens, {**model, "direction": "input"})
    tokens.add(record.output_tokens, {**model, "direction": "output"})
    m.create_histogram_float("aiflow_model_cost_usd", "Cost per model call", "usd").record(
        record.cost_usd, model
    )


def run_finished(
    outcome: str, route: str, cost_usd: float, decision_ms: float, over_budget: bool | None
) -> None:
    m = workflow.metric_meter()
    if over_budget:
        m.create_counter("aiflow_latency_budget_breaches", "Steps over their latency budget").add(
            1, {"step": "run"}
        )
    labels = {"outcome": outcome, "route": route}
    m.create_counter("aiflow_runs", "Runs finished, by outcome and route").add(1, labels)
    m.create_histogram_float("aiflow_run_cost_usd", "Cost per run", "usd").record(
        cost_usd, {"outcome": outcome}
    )
    m.create_histogram_float(
        "aiflow_run_decision_latency_ms", "Run start to decision (review wait excluded)", "ms"
    ).record(decision_ms, {"outcome": outcome})


def rejected(codes: list[str]) -> None:
    counter = workflow.metric_meter().create_counter("aiflow_rejections", "Inputs rejected")
    for code in codes:
        counter.add(1, {"reason": code})


def rule_exit(rule_id: str, reason: str) -> None:
    workflow.metric_meter().create_counter(
        "aiflow_rule_exits", "Runs closed by a rule, no model called"
    ).add(1, {"rule": rule_id, "reason": reason})


def budget_degraded(step: str) -> None:
    workflow.metric_meter().create_counter(
        "aiflow_budget_degradations", "Runs that switched to their cheapest models"
    ).add(1, {"step": step})


def review_opened(reasons: list[str]) -> None:
    counter = workflow.metric_meter().create_counter(
        "aiflow_reviews_opened", "Reviews opened, once per reason"
    )
    for reason in reasons:
        counter.add(1, {"reason": reason.split(":", 1)[0]})


def review_escalated(by: str) -> None:
    workflow.metric_meter().create_counter(
        "aiflow_review_escalations", "Reviews escalated, by the SLA or a reviewer"
    ).add(1, {"by": by})


def review_closed(action: str, seconds: float) -> None:
    m = workflow.metric_meter()
    m.create_counter("aiflow_review_decisions", "Reviews closed, by action").add(
        1, {"action": action}
    )
    m.create_histogram_float("aiflow_time_to_review_s", "Review opened → closed", "s").record(
        seconds, {"action": action}
    )


def model_wait_started(step: str, reason: str) -> None:
    workflow.metric_meter().create_counter(
        "aiflow_model_waits", "Model steps that waited for their models, by reason"
    ).add(1, {"step": step, "reason": reason})


def model_wait_ended(step: str, reason: str, recovered: bool) -> None:
    workflow.metric_meter().create_counter(
        "aiflow_model_waits_ended", "Model waits ended: recovered, or given up to review"
    ).add(1, {"step": step, "reason": reason, "recovered": str(recovered).lower()})


def run_tier(tier: str, settled: dict[str, str], cost_usd: float) -> None:
    """Which tier of the ladder settled each model step, and the run as a whole."""
    m = workflow.metric_meter()
    steps = m.create_counter("aiflow_tier_steps", "Model steps settled, by tier")
    for step, t in settled.items():
        steps.add(1, {"step": step, "tier": t})
    m.create_counter("aiflow_tier_runs", "Runs finished, by their highest tier").add(
        1, {"tier": tier}
    )
    m.create_histogram_float("aiflow_tier_run_cost_usd", "Cost per run, by tier", "usd").record(
        cost_usd, {"tier": tier}
    )
