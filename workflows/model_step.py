"""The model step building block: one structured model call, walked down the fallback
chain through the gateway activity, with the shared circuit breaker consulted before each
model and the run's budget reserved before each call. Deterministic workflow code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

from contracts import (
    BreakerCheck,
    BreakerVerdict,
    DegradationPolicy,
    ModelCall,
    ModelStepInput,
    ModelStepResult,
    ModelTarget,
    PromptRef,
    StepKind,
)
from workflows import metrics
from workflows.degrade import (
    BUDGET,
    CONFIG,
    ERROR,
    INVALID,
    REASONS,
    UNAVAILABLE,
    ModelWaits,
    failure_class,
)
from workflows.policies import BREAKER_LOCAL_ACTIVITY, MODEL_ACTIVITY
from workflows.steps import StepRecorder

with workflow.unsafe.imports_passed_through():
    from activities.gateway import ModelGateway
    from activities.pipeline import PipelineActivities

S = TypeVar("S", bound=BaseModel)


class ModelStepFailed(Exception):
    """No model of the step's chain answered, and the step's degradation policy says stop.

    kind: the review reason code (workflows/degrade.py): "invalid_output" (`partial` holds
    the last answer), "budget", "model_unavailable" (outage past its window, or released),
    "model_config" (bad key / unknown model, released or past its park time), or
    "model_error" (a request the provider refused: 400, filtered, context too long).
    """

    def __init__(self, step: str, kind: str, reason: str, partial: str | None = None) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.kind = kind
        self.reason = reason
        self.partial = partial


def describe_failure(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'ApplicationError'}: {cause.message}"
    if isinstance(cause, ActivityTimeout):
        return f"timeout: {cause.type.name if cause.type else 'unknown'}"
    return f"{type(cause).__name__}: {cause}"


# Tokens of prompt text around the variables, for the worst-case estimate of a call.
PROMPT_OVERHEAD_TOKENS = 400


def input_tokens_estimate(variables: dict[str, Any]) -> int:
    """A generous estimate of a call's input tokens (~4 chars/token, counted as 3)."""
    return PROMPT_OVERHEAD_TOKENS + sum(len(str(v)) for v in variables.values()) // 3 + 1


TRUNCATION_MARK = "\n[…truncated to fit the model's context window]"


def truncate_to_fit(
    variables: dict[str, Any], chain: list[ModelTarget], max_output_tokens: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The truncation policy for context overflow: when no model of the chain can hold the
    input, cut the longest text variable (its end) so the largest window can."""

    def room(t: ModelTarget) -> int:
        return t.context_window - min(max_output_tokens, t.max_output_tokens)

    if any(input_tokens_estimate(variables) <= room(t) for t in chain):
        return variables, None
    widest = max(chain, key=room)
    name = max(
        (k for k, v in variables.items() if isinstance(v, str)), key=lambda k: len(variables[k])
    )
    excess_chars = (input_tokens_estimate(variables) - room(widest)) * 3 + len(TRUNCATION_MARK)
    text = variables[name]
    keep = max(0, len(text) - excess_chars)
    cut = {
        "variable": name,
        "from_chars": len(text),
        "to_chars": keep,
        "context_window": widest.context_window,
        "model": widest.model,
    }
    return {**variables, name: text[:keep] + TRUNCATION_MARK}, cut


class RunBudget:
    """The run's cost cap. Every call reserves its worst case (input estimate + max output
    at the model's price) before it is scheduled and settles to the real cost after, so
    the run cannot exceed the cap, also with calls in parallel."""

    def __init__(self, cap_usd: float | None, degrade_ratio: float = 1.0) -> None:
        self.cap_usd = cap_usd
        self.degrade_ratio = degrade_ratio
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.degrade_reported = False  # the degradation is counted once per run

    @property
    def degraded(self) -> bool:
        """Past the degrade threshold: cheapest models first, optional calls skipped."""
        return self.cap_usd is not None and self.spent_usd >= self.degrade_ratio * self.cap_usd

    def order(self, chain: list[ModelTarget]) -> list[ModelTarget]:
        """The chain to walk: as configured, or cheapest first once degraded."""
        if not self.degraded:
            return chain
        return sorted(chain, key=lambda t: (t.output_per_mtok, t.input_per_mtok))

    @staticmethod
    def worst_case(target: ModelTarget, variables: dict[str, Any], max_output: int) -> float:
        tokens_in = input_tokens_estimate(variables)
        return (tokens_in * target.input_per_mtok + max_output * target.output_per_mtok) / 1e6

    def reserve(self, amount: float) -> bool:
        total = round(self.spent_usd + self.reserved_usd + amount, 12)  # float noise
        if self.cap_usd is not None and total > self.cap_usd:
            return False
        self.reserved_usd += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved_usd -= reserved
        self.spent_usd += actual


# When a step gives up, the most useful explanation for a reviewer wins.
_KIND_ORDER = (INVALID, CONFIG, UNAVAILABLE, BUDGET, ERROR)


@dataclass
class _Attempts:
    """What the walk down one step's fallback chain has seen in the current round."""

    failures: list[str] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # label -> failure class
    retry_at: dict[str, datetime] = field(default_factory=dict)  # label -> breaker opens
    partial: str | None = None
    quiet: bool = False  # rounds after the first record no failed attempt (bounded state)

    def fail(self, label: str, reason: str, cls: str) -> None:
        self.failures.append(f"{label}: {reason}")
        self.classes[label] = cls

    def next_round(self) -> None:
        self.failures, self.classes, self.retry_at, self.quiet = [], {}, {}, True

    @property
    def kind(self) -> str:
        seen = set(self.classes.values())
        return REASONS[next((k for k in _KIND_ORDER if k in seen), ERROR)]


def _label(target: ModelTarget) -> str:
    return f"{target.provider}/{target.model}"


async def run_model_step(
    recorder: StepRecorder,
    budget: RunBudget,
    step: str,
    *,
    chain: list[ModelTarget],
    prompt: PromptRef,
    variables: dict[str, Any],
    schema: type[S],
    max_output_tokens: int,
    summary: str,
    key: str | None = None,
    step_cap_usd: float | None = None,
    degradation: DegradationPolicy | None = None,
    waits: ModelWaits | None = None,
    stage: str | None = None,
) -> tuple[S, ModelCall]:
    """One structured model step: walk the fallback chain through the gateway activity,
    skipping models whose breaker is open or that do not fit the run's budget; record every
    attempt and fallback decision. When the models that failed may come back (an outage, a
    configuration being fixed), wait durably and walk again, as `degradation` says
    (workflows/degrade.py); `stage` is republished once the models answer again."""
    policy = degradation or DegradationPolicy()
    waits = waits or ModelWaits()
    seen = _Attempts()
    if budget.degraded and not budget.degrade_reported:
        budget.degrade_reported = True
        metrics.budget_degraded(step)
    chain = budget.order(chain)
    started = workflow.now()
    variables, cut = truncate_to_fit(variables, chain, max_output_tokens)
    if cut is not None:
        recorder.add(step, StepKind.CODE, started, "truncated", details=cut)
    pending, rounds = chain, 0
    while True:
        rounds += 1
        for target in pending:
            done = await _try_target(
                recorder,
                budget,
                step,
                target,
                prompt,
                variables,
                schema,
                max_output_tokens,
                summary,
                key or step,
                seen,
                step_cap_usd,
            )
            if done is not None:
                _end_wait(recorder, waits, step, stage, started, rounds, "recovered")
                return done
        retry = [t for t in pending if waits.waitable(policy, seen.classes[_label(t)])]
        if not retry:
            break
        blocked = [seen.retry_at.get(_label(t)) for t in retry]
        retry_at = min(blocked) if all(blocked) else None  # type: ignore[type-var]
        keep_going = await waits.wait(
            policy,
            step,
            stage,
            started,
            rounds,
            {seen.classes[_label(t)] for t in retry},
            retry_at,
            [_label(t) for t in retry],
            seen.failures,
        )
        if not keep_going:
            break
        pending = retry
        seen.next_round()
    kind = seen.kind
    _end_wait(recorder, waits, step, stage, started, rounds, f"gave_up:{kind}")
    raise ModelStepFailed(step, kind, "; ".join(seen.failures), seen.partial)


def _end_wait(
    recorder: StepRecorder,
    waits: ModelWaits,
    step: str,
    stage: str | None,
    started: datetime,
    rounds: int,
    outcome: str,
) -> None:
    """One record for a whole wait (the rounds in it record nothing each)."""
    if waits.current is None:
        return
    wait = waits.current
    recorder.add(
        step,
        StepKind.CODE,
        started,
        f"waited:{outcome}",
        details={"reason": wait.reason, "rounds": rounds, "models": wait.models},
    )
    waits.done(stage, recovered=outcome == "recovered")


async def _try_target(
    recorder: StepRecorder,
    budget: RunBudget,
    step: str,
    target: ModelTarget,
    prompt: PromptRef,
    variables: dict[str, Any],
    schema: type[S],
    max_output_tokens: int,
    summary: str,
    key: str,
    seen: _Attempts,
    step_cap_usd: float | None,
) -> tuple[S, ModelCall] | None:
    label = _label(target)
    started = workflow.now()
    ids = {"model": target.model, "provider": target.provider}

    def record(outcome: str, **fields: Any) -> None:
        if not seen.quiet:
            recorder.add(step, StepKind.MODEL, started, outcome, **ids, **fields)

    breaker = await _breaker(label)
    if not breaker.allowed:
        config = breaker.reason == "config"
        record(
            "skipped:config_breaker_open" if config else "skipped:breaker_open",
            details={"breaker": breaker.state, "retry_at": str(breaker.retry_at)},
        )
        if breaker.state == "open" and breaker.retry_at is not None:
            # no call can go out before then; while another run's probe is out (half
            # open), it may close the breaker any moment: the backoff decides alone
            seen.retry_at[label] = breaker.retry_at
        seen.fail(
            label,
            f"{'config ' if config else ''}circuit breaker open",
            CONFIG if config else UNAVAILABLE,
        )
        return None
    max_out = min(max_output_tokens, target.max_output_tokens)
    if input_tokens_estimate(variables) + max_out > target.context_window:
        record("skipped:context_window", details={"context_window": target.context_window})
        seen.fail(label, "input too long for its context window", ERROR)
        return None
    worst = budget.worst_case(target, variables, max_out)
    if step_cap_usd is not None and worst > step_cap_usd:
        record(
            "skipped:step_budget",
            details={"worst_case_usd": round(worst, 8), "step_cap_usd": step_cap_usd},
        )
        seen.fail(label, "over the step's cap", BUDGET)
        return None
    if not budget.reserve(worst):
        record(
            "skipped:budget",
            details={"worst_case_usd": round(worst, 8), "spent_usd": round(budget.spent_usd, 8)},
        )
        seen.fail(label, "over budget", BUDGET)
        return None
    arg = ModelStepInput(
        workflow_id=workflow.info().workflow_id,
        step=key,
        prompt=prompt,
        target=target,
        variables=variables,
        max_output_tokens=max_out,
        output_schema=schema.__name__,
    )
    try:
        result: ModelStepResult = await workflow.execute_activity_method(
            ModelGateway.model_call,
            arg,
            task_queue=target.queue,
            summary=f"{summary} ({label})",
            **MODEL_ACTIVITY,
        )
    except ActivityError as err:
        budget.settle(worst, 0.0)
        reason = describe_failure(err)
        cls = failure_class(err)
        cause = err.cause
        if cls == INVALID and isinstance(cause, ApplicationError) and cause.details:
            seen.partial = (cause.details[0] or {}).get("partial")
        record("error", reasoning=reason, details={"failure_class": cls})
        seen.fail(label, reason, cls)
        return None
    budget.settle(worst, result.call.cost_usd)
    output = schema.model_validate(result.output)
    recorder.add_model_call(
        step,
        started,
        result.call,
        details={"fallbacks": len(seen.failures)} if seen.failures else None,
        confidence=getattr(output, "confidence", None),
        reasoning=getattr(output, "reasoning", None),
    )
    return output, result.call


async def _breaker(key: str) -> BreakerVerdict:
    """The shared breaker's verdict; if the store cannot answer, let the call through."""
    try:
        return await workflow.execute_local_activity_method(
            PipelineActivities.breaker_acquire,
            BreakerCheck(key=key),
            summary=f"breaker {key}",
            **BREAKER_LOCAL_ACTIVITY,
        )
    except ActivityError:
        return BreakerVerdict(allowed=True, state="unknown")
