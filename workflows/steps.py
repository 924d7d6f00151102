"""Reusable workflow building blocks: step records, model steps, the review gate, persistence.

Every reference workflow (triage today; extraction and generation next) composes these
instead of copying them. All of it is deterministic workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

from contracts import (
    ModelCall,
    ModelStepInput,
    ModelStepResult,
    ModelTarget,
    PersistRunInput,
    PromptRef,
    ReviewAction,
    ReviewDecision,
    Stage,
    StepKind,
    StepRecord,
    TriageResult,
)
from workflows import search_attributes as sa
from workflows.policies import MODEL_ACTIVITY, STORE_LOCAL_ACTIVITY

with workflow.unsafe.imports_passed_through():
    from activities.gateway import ModelGateway
    from activities.pipeline import PipelineActivities

S = TypeVar("S", bound=BaseModel)


class StepRecorder:
    """Appends one StepRecord per pipeline step; totals are derived, never stored twice."""

    def __init__(self) -> None:
        self.records: list[StepRecord] = []

    def add(
        self, step: str, kind: StepKind, started_at: datetime, outcome: str, **fields: Any
    ) -> StepRecord:
        ended = workflow.now()
        record = StepRecord(
            seq=len(self.records) + 1,
            step=step,
            kind=kind,
            started_at=started_at,
            ended_at=ended,
            latency_ms=round((ended - started_at).total_seconds() * 1000, 3),
            outcome=outcome,
            **fields,
        )
        self.records.append(record)
        return record

    def add_model_call(
        self,
        step: str,
        started_at: datetime,
        call: ModelCall,
        details: dict[str, Any] | None = None,
        **fields: Any,
    ) -> StepRecord:
        extra = {
            "alias": call.alias,
            "price_version": call.price_version,
            "cost_estimated": call.cost_estimated,
        }
        if call.repairs:
            extra["repairs"] = call.repairs
        if call.reasks:
            extra["reasks"] = call.reasks
        if call.reused:
            extra["reused"] = True
        details = {**extra, **(details or {})}
        return self.add(
            step,
            StepKind.MODEL,
            started_at,
            "ok",
            model=call.model,
            provider=call.provider,
            prompt_version=f"{call.prompt_id}@{call.prompt_version}",
            input_tokens=call.usage.input_tokens,
            output_tokens=call.usage.output_tokens,
            tokens_estimated=call.usage.estimated,
            cost_usd=call.cost_usd,
            attempt=call.attempt,
            details={"provider_latency_ms": round(call.latency_ms, 3), **(details or {})},
            **fields,
        )

    @property
    def cost_usd(self) -> float:
        return round(sum(r.cost_usd for r in self.records), 10)

    @property
    def model_calls(self) -> int:
        return sum(1 for r in self.records if r.kind == StepKind.MODEL and r.outcome == "ok")


class ModelStepFailed(Exception):
    """Every model of the step's chain failed or was skipped.

    kind: "error" (provider errors, retries exhausted), "invalid_output" (no model produced
    output that validates; `partial` holds the last answer) or "budget" (no model fits the
    run's remaining budget).
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


class RunBudget:
    """The run's cost cap. Every call reserves its worst case (input estimate + max output
    at the model's price) before it is scheduled and settles to the real cost after, so
    the run cannot exceed the cap, also with calls in parallel."""

    def __init__(self, cap_usd: float | None) -> None:
        self.cap_usd = cap_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0

    @staticmethod
    def worst_case(target: ModelTarget, variables: dict[str, Any], max_output: int) -> float:
        chars = sum(len(str(v)) for v in variables.values())
        tokens_in = PROMPT_OVERHEAD_TOKENS + chars // 3 + 1  # ~4 chars/token, with margin
        return (tokens_in * target.input_per_mtok + max_output * target.output_per_mtok) / 1e6

    def reserve(self, amount: float) -> bool:
        if self.cap_usd is not None and self.spent_usd + self.reserved_usd + amount > self.cap_usd:
            return False
        self.reserved_usd += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved_usd -= reserved
        self.spent_usd += actual


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
) -> tuple[S, ModelCall]:
    """One structured model step: walk the fallback chain through the gateway activity,
    within the run's budget; record every attempt and every fallback decision."""
    failures: list[str] = []
    kind, partial = "error", None
    for target in chain:
        label = f"{target.provider}/{target.model}"
        started = workflow.now()
        max_out = min(max_output_tokens, target.max_output_tokens)
        worst = budget.worst_case(target, variables, max_out)
        if not budget.reserve(worst):
            recorder.add(
                step,
                StepKind.MODEL,
                started,
                "skipped:budget",
                model=target.model,
                provider=target.provider,
                details={
                    "worst_case_usd": round(worst, 8),
                    "spent_usd": round(budget.spent_usd, 8),
                },
            )
            failures.append(f"{label}: over budget")
            kind = "budget" if kind != "invalid_output" else kind
            continue
        arg = ModelStepInput(
            workflow_id=workflow.info().workflow_id,
            step=key or step,
            prompt=prompt,
            target=target,
            variables=variables,
            max_output_tokens=max_out,
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
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "InvalidStructuredOutput":
                kind = "invalid_output"
                partial = (cause.details[0] or {}).get("partial") if cause.details else None
            else:
                kind = "error" if kind != "invalid_output" else kind
            recorder.add(
                step,
                StepKind.MODEL,
                started,
                "error",
                model=target.model,
                provider=target.provider,
                reasoning=reason,
                details={"fallback": target is not chain[-1]},
            )
            failures.append(f"{label}: {reason}")
            continue
        budget.settle(worst, result.call.cost_usd)
        output = schema.model_validate(result.output)
        recorder.add_model_call(
            step,
            started,
            result.call,
            details={"fallbacks": len(failures)} if failures else None,
            confidence=getattr(output, "confidence", None),
            reasoning=getattr(output, "reasoning", None),
        )
        return output, result.call
    raise ModelStepFailed(step, kind, "; ".join(failures), partial)


class ReviewGate:
    """A durable wait for one reviewer decision, bounded by an SLA timer."""

    def __init__(self) -> None:
        self.decision: ReviewDecision | None = None
        self.pending = False

    def submit(self, decision: ReviewDecision) -> bool:
        """Take the first valid decision while a review is pending; ignore the rest."""
        if not self.pending or self.decision is not None:
            workflow.logger.warning("review decision ignored: no review pending")
            return False
        if decision.action == ReviewAction.EDIT and not (decision.reply or "").strip():
            workflow.logger.warning("review decision ignored: edit without a reply")
            return False
        self.decision = decision
        return True

    async def wait(self, sla: timedelta) -> ReviewDecision | None:
        """The reviewer's decision, or None when the SLA expired first."""
        self.pending = True
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=sla)
        except TimeoutError:
            return None
        finally:
            self.pending = False
        return self.decision


def publish(stage: Stage, **extra: Any) -> None:
    """Upsert the stage (and any other given attributes) for the Web UI's filters."""
    updates = [sa.STAGE.value_set(stage.value)]
    keys = {
        "outcome": sa.OUTCOME,
        "category": sa.CATEGORY,
        "route": sa.ROUTE,
        "needs_review": sa.NEEDS_REVIEW,
        "cost_usd": sa.COST_USD,
    }
    updates += [keys[name].value_set(value) for name, value in extra.items() if value is not None]
    workflow.upsert_search_attributes(updates)


async def persist(
    stage: Stage,
    ticket_id: str,
    recorder: StepRecorder,
    result: TriageResult | None = None,
    review_reasons: list[str] | None = None,
) -> None:
    info = workflow.info()
    await workflow.execute_local_activity_method(
        PipelineActivities.persist_run,
        PersistRunInput(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            ticket_id=ticket_id,
            stage=stage,
            result=result,
            steps=recorder.records,
            review_reasons=review_reasons or [],
        ),
        summary=f"persist {stage.value}",
        **STORE_LOCAL_ACTIVITY,
    )
