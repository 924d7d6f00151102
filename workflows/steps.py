"""Reusable workflow building blocks: step records, search attributes, persistence, notices.

Every reference workflow (triage today; extraction and generation next) composes these
instead of copying them. All of it is deterministic workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from contracts import (
    Correction,
    ModelCall,
    Notification,
    PersistRunInput,
    ReviewRequest,
    Stage,
    StepKind,
    StepRecord,
    TriageResult,
)
from contracts.items import ItemRecord
from workflows import metrics
from workflows import search_attributes as sa
from workflows.policies import NOTIFY_LOCAL_ACTIVITY, STORE_LOCAL_ACTIVITY

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities


class StepRecorder:
    """Appends one StepRecord per pipeline step; totals are derived, never stored twice."""

    def __init__(self) -> None:
        self.records: list[StepRecord] = []
        self.budgets_ms: dict[str, float] = {}  # latency budget by step name
        self.deadline: datetime | None = None  # the run's decision deadline ("run" budget)

    def start(self, budgets_ms: dict[str, float], run_started: datetime) -> None:
        """Pin the run's latency budgets; the "run" budget sets its decision deadline."""
        self.budgets_ms = budgets_ms
        if "run" in budgets_ms:
            self.deadline = run_started + timedelta(milliseconds=budgets_ms["run"])

    def remaining_ms(self) -> float | None:
        """Time left before the run's decision deadline (negative: past it)."""
        if self.deadline is None:
            return None
        return round((self.deadline - workflow.now()).total_seconds() * 1000, 3)

    def add(
        self, step: str, kind: StepKind, started_at: datetime, outcome: str, **fields: Any
    ) -> StepRecord:
        ended = workflow.now()
        latency_ms = round((ended - started_at).total_seconds() * 1000, 3)
        budget = self.budgets_ms.get(step)
        if budget is not None and kind != StepKind.HUMAN:
            fields["details"] = {
                **(fields.get("details") or {}),
                "latency_budget_ms": budget,
                "over_budget": latency_ms > budget,
            }
        if kind == StepKind.MODEL and self.deadline is not None:
            fields["details"] = {
                **(fields.get("details") or {}),
                "deadline_remaining_ms": self.remaining_ms(),
            }
        record = StepRecord(
            seq=len(self.records) + 1,
            step=step,
            kind=kind,
            started_at=started_at,
            ended_at=ended,
            latency_ms=latency_ms,
            outcome=outcome,
            **fields,
        )
        self.records.append(record)
        metrics.step_recorded(record)
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


def publish(stage: str, **extra: Any) -> None:
    """Upsert the stage (a `Stage`, or a workflow's own stage name) and any other given
    attributes, for the Web UI's filters."""
    updates = [sa.STAGE.value_set(str(stage))]
    keys = {
        "outcome": sa.OUTCOME,
        "category": sa.CATEGORY,
        "route": sa.ROUTE,
        "needs_review": sa.NEEDS_REVIEW,
        "cost_usd": sa.COST_USD,
        "tier": sa.TIER,
    }
    updates += [keys[name].value_set(value) for name, value in extra.items() if value is not None]
    workflow.upsert_search_attributes(updates)


async def persist(
    stage: Stage,
    ticket_id: str,
    recorder: StepRecorder,
    result: TriageResult | None = None,
    review_reasons: list[str] | None = None,
    review: ReviewRequest | None = None,
    review_status: str | None = None,
    correction: Correction | None = None,
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
            review=review,
            review_status=review_status,
            correction=correction,
        ),
        summary=f"persist {stage.value}",
        **STORE_LOCAL_ACTIVITY,
    )


def item_record(item_key: str, stage: str, recorder: StepRecorder, **fields: Any) -> ItemRecord:
    """This run's record for the store: its ids, type, totals and steps, plus `fields`."""
    info = workflow.info()
    return ItemRecord(
        workflow_id=info.workflow_id,
        run_id=info.run_id,
        workflow_type=info.workflow_type,
        item_key=item_key,
        stage=stage,
        cost_usd=recorder.cost_usd,
        model_calls=recorder.model_calls,
        steps=list(recorder.records),
        **fields,
    )


async def persist_item(record: ItemRecord) -> None:
    """Persist a run of any workflow (its record and steps), as a local activity."""
    await workflow.execute_local_activity_method(
        PipelineActivities.persist_item,
        record,
        summary=f"persist {record.stage}",
        **STORE_LOCAL_ACTIVITY,
    )


async def notify(notice: Notification) -> bool:
    """Deliver a notice to people; False (and a warning) when it could not be delivered,
    so a broken webhook never fails the run."""
    try:
        await workflow.execute_local_activity_method(
            PipelineActivities.notify,
            notice,
            summary=f"notify {notice.kind}",
            **NOTIFY_LOCAL_ACTIVITY,
        )
    except (ActivityError, ApplicationError) as err:
        # a local activity that exhausted its attempts surfaces as its ApplicationError
        workflow.logger.warning("notice %s not delivered: %s", notice.key, err)
        return False
    return True
