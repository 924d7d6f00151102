"""Field reviews of any workflow built on workflows/field_review.py, as a library for
`aiflow review`: the queue (visibility + each run's `field_review` query), one review's
card (each field beside the AI's value and why it is in doubt) and decisions (the
`review_fields` update). Nothing here knows a workflow by name."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts.items import FieldDecision, FieldReviewRequest
from starter.reviews import NoSuchReview, NoWorker, ReviewRefused
from starter.tables import ago, side_by_side, table
from starter.terminal import safe_text
from workflows.field_review import FieldReviewHandlers
from workflows.registry import WorkflowSpec

QUERY = "field_review"
UPDATE = "review_fields"
QUERY_CONCURRENCY = 20
SHOWN_VALUE_CHARS = 60  # of a value in the queue table


@dataclass(frozen=True)
class FieldReview:
    workflow_id: str
    workflow: str  # the spec's name
    request: FieldReviewRequest


def field_specs(specs: list[WorkflowSpec]) -> list[WorkflowSpec]:
    """The workflows built on the field review gate (they answer its query and update)."""
    return [s for s in specs if issubclass(s.workflow, FieldReviewHandlers)]


def is_field_run(workflow_id: str, specs: list[WorkflowSpec]) -> WorkflowSpec | None:
    """The spec of a workflow id whose workflow has field reviews (tickets have their own)."""
    found = [s for s in field_specs(specs) if workflow_id.startswith(s.id_prefix)]
    return max(found, key=lambda s: len(s.id_prefix), default=None)


async def pending(
    client: Client, specs: list[WorkflowSpec], task_queue: str, query_timeout: float = 5.0
) -> tuple[list[FieldReview], int]:
    """Every pending field review of these workflows (oldest first) and how many listed
    runs did not answer their query (no worker)."""
    kinds = field_specs(specs)
    if not kinds:
        return [], 0
    types = ", ".join(f"'{s.type_name}'" for s in kinds)
    query = (
        f"AiflowNeedsReview = true AND ExecutionStatus = 'Running' AND WorkflowType IN "
        f"({types}) AND TaskQueue = '{task_queue.replace(chr(39), '')}'"
    )
    ids = [wf.id async for wf in client.list_workflows(query)]
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def one(workflow_id: str) -> FieldReview | RPCError | None:
        spec = is_field_run(workflow_id, kinds)
        async with gate:
            try:
                found = await client.get_workflow_handle(workflow_id).query(
                    QUERY,
                    result_type=FieldReviewRequest,
                    rpc_timeout=timedelta(seconds=query_timeout),
                )
            except RPCError as err:
                return None if err.status == RPCStatusCode.NOT_FOUND else err
            except WorkflowQueryFailedError as err:  # e.g. its task fails (a bad deploy)
                return err
        return FieldReview(workflow_id, spec.name if spec else "?", found) if found else None

    found = await asyncio.gather(*(one(i) for i in ids))
    reviews = sorted(
        (r for r in found if isinstance(r, FieldReview)), key=lambda r: r.request.created_at
    )
    return reviews, sum(isinstance(r, RPCError | WorkflowQueryFailedError) for r in found)


async def get(client: Client, workflow_id: str) -> FieldReviewRequest:
    try:
        found = await client.get_workflow_handle(workflow_id).query(
            QUERY, result_type=FieldReviewRequest
        )
    except RPCError as err:
        raise NoSuchReview(f"{workflow_id}: {err.message}") from None
    except WorkflowQueryFailedError as err:
        raise NoSuchReview(f"{workflow_id}: the run cannot answer: {err}") from None
    if found is None:
        raise NoSuchReview(f"{workflow_id}: no field review is pending for this run")
    return found


async def decide(
    client: Client, workflow_id: str, decision: FieldDecision, timeout: float = 15.0
) -> FieldReviewRequest:
    """Apply through the update: the review it answered, or ReviewRefused with the run's
    reason; NoWorker when no worker answers within `timeout` seconds."""
    try:
        return await client.get_workflow_handle(workflow_id).execute_update(
            UPDATE,
            decision,
            result_type=FieldReviewRequest,
            rpc_timeout=timedelta(seconds=timeout),
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise NoWorker(f"{workflow_id}: no worker answered within {timeout:.0f} s") from None
    except WorkflowUpdateFailedError as err:
        raise ReviewRefused(getattr(err.cause, "message", str(err.cause))) from None
    except RPCError as err:
        raise NoSuchReview(f"{workflow_id}: {err.message}") from None


def parse_value(raw: str) -> object:
    """A reviewer's value: JSON when it parses (numbers, lists, null), else the text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_corrections(pairs: list[str]) -> dict:
    """`--set FIELD=VALUE` pairs, each VALUE read by `parse_value`."""
    out = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {safe_text(pair)}: give FIELD=VALUE")
        out[name] = parse_value(raw)
    return out


def _shown(value: object, limit: int = SHOWN_VALUE_CHARS) -> str:
    return safe_text(
        json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value, limit
    )


def queue_table(reviews: list[FieldReview], now: datetime) -> str:
    rows = [
        [
            r.workflow_id,
            r.workflow,
            ago(now - r.request.created_at),
            ("overdue " + ago(now - r.request.due_at))
            if r.request.due_at <= now
            else ago(r.request.due_at - now),
            ", ".join(f"{k}: {_shown(v, 40)}" for k, v in r.request.in_doubt.items()),
        ]
        for r in reviews
    ]
    head = ["RUN", "WORKFLOW", "AGE", "SLA LEFT", "FIELDS IN DOUBT"]
    return table(head, rows) + f"\n{len(reviews)} field review(s) pending"


def card(workflow_id: str, r: FieldReviewRequest) -> str:
    """The source the reviewer reads beside each field's AI value; doubtful ones marked."""
    source = [line for k, v in r.source.items() for line in (f"{k}:", *v.splitlines()[:40], "")]
    fields = []
    for name, value in r.fields.items():
        mark = "? " if name in r.in_doubt else "  "
        fields.append(f"{mark}{name}: {_shown(value)}")
        if name in r.in_doubt:
            fields.append(f"    in doubt: {safe_text(r.in_doubt[name], 120)}")
    head = [
        f"field review {r.review_id} · item {safe_text(r.item_key)} · run {workflow_id}",
        f"due {r.due_at:%Y-%m-%d %H:%M} UTC · {len(r.in_doubt)} of {len(r.fields)} fields in doubt",
    ]
    return "\n".join([*head, "", side_by_side("SOURCE", source or ["-"], "AI PROPOSAL", fields)])
