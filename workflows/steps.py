"""Reusable workflow building blocks: step records, model steps, the review gate, persistence.

Every reference workflow (triage today; extraction and generation next) composes these
instead of copying them. All of it is deterministic workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from contracts import (
    ModelCall,
    PersistRunInput,
    ReviewAction,
    ReviewDecision,
    Stage,
    StepKind,
    StepRecord,
    TriageResult,
)
from workflows import search_attributes as sa
from workflows.policies import STORE_LOCAL_ACTIVITY

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities


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
