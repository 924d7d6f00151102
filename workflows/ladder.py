"""The small→large model cascade, as a workflow building block: a step tries its small
tier first and escalates to its full chain (the large tier) when the small answer is not
good enough, recording the escalation and its reason. Deterministic workflow code.

The small tier never waits out an outage: if it cannot answer at once, the step escalates
(the large tier has its own degradation policy: waits, fallbacks, review).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow

from contracts import CascadeStep, DegradationPolicy, ModelTarget, StepKind
from contracts.cache import TIERS
from workflows.model_step import ModelStepFailed, RunBudget, run_model_step
from workflows.steps import StepRecorder

S = TypeVar("S", bound=BaseModel)

# The small tier gives up at once: escalating is its fallback.
NO_WAIT = DegradationPolicy(outage_window_seconds=0, on_config_error="review", park_seconds=0)


def low_confidence(threshold: float | None) -> Callable[[Any], str | None]:
    """An escalation check: the answer's confidence under `threshold`."""

    def check(output: Any) -> str | None:
        confidence = getattr(output, "confidence", None)
        if threshold is None or confidence is None or confidence >= threshold:
            return None
        return f"low_confidence:{confidence:.3f}<{threshold}"

    return check


def run_tier(settled: dict[str, str]) -> str:
    """The highest tier any step of the run was settled by ("human" overrides, by caller)."""
    used = [TIERS.index(t) for t in settled.values() if t in TIERS]
    return TIERS[max(used)] if used else "rules"


async def cascade_step(
    rec: StepRecorder,
    budget: RunBudget,
    step: str,
    *,
    small: CascadeStep | None,
    chain: list[ModelTarget],
    escalate_if: Callable[[S], str | None] | None = None,
    key: str | None = None,
    **step_args: Any,
) -> tuple[S, str]:
    """(answer, tier): the small tier's answer when it is good enough, else the large's."""
    if small is not None and small.chain:
        started = workflow.now()
        try:
            out, _ = await run_model_step(
                rec,
                budget,
                step,
                chain=small.chain,
                key=f"{key or step}@small",
                **{**step_args, "degradation": NO_WAIT, "waits": None},
            )
            reason = escalate_if(out) if escalate_if else None
            if reason is None:
                return out, "small"
        except ModelStepFailed as err:
            reason = f"small_failed:{err.kind}"
        rec.add(
            step,
            StepKind.CODE,
            started,
            "escalated",
            details={"reason": reason, "from": sorted({t.alias for t in small.chain})},
        )
    out, _ = await run_model_step(rec, budget, step, chain=chain, key=key, **step_args)
    return out, "large"
