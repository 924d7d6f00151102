"""The review queue as a library: what the CLI, the web page and tests call.

Pending reviews come from Temporal visibility (`AiflowNeedsReview`) with each run's
`pending_review` query, or from the store's `reviews` table when the cluster is busy or
the runs are many. Decisions go out as the `submit_review` update (validated by the run;
refusals come back as ReviewRefused) or, fire-and-forget, as the `review_decision` signal.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.store import Store
from contracts import (
    CLOSING_ACTIONS,
    ReviewAction,
    ReviewDecision,
    ReviewProposal,
    ReviewReceipt,
    ReviewRequest,
    TriageResult,
)
from starter.runs import ticket_handle, workflow_id_for
from workflows.triage import TriageWorkflow

PENDING_QUERY = (  # ticket reviews; other workflows' are field reviews (field_reviews.py)
    "AiflowNeedsReview = true AND ExecutionStatus = 'Running' AND WorkflowType = 'TicketTriage'"
)
QUERY_CONCURRENCY = 20


class ReviewRefused(Exception):
    """The run's validator refused the decision; nothing reached its history."""


class NoSuchReview(LookupError):
    """No run for the ticket, or it waits for no reviewer."""


class NoWorker(TimeoutError):
    """No worker took the update in time: an update needs a running worker to answer."""


def new_decision_id() -> str:
    return f"d-{uuid.uuid4().hex}"


@dataclass
class Queue:
    reviews: list[ReviewRequest]  # oldest first
    silent: int = 0  # listed runs that did not answer their query: no worker polls them


async def pending(
    client: Client, task_queue: str | None = None, query_timeout: float = 5.0
) -> Queue:
    """Every pending review, as the runs themselves report them. `task_queue` keeps to one
    deployment's runs; a run whose worker is down is counted in `silent` after
    `query_timeout` seconds instead of stalling the listing."""
    query = PENDING_QUERY
    if task_queue:
        query += " AND TaskQueue = '{}'".format(task_queue.replace("'", ""))
    ids = [wf.id async for wf in client.list_workflows(query)]
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def one(workflow_id: str) -> ReviewRequest | RPCError | None:
        async with gate:
            handle = client.get_workflow_handle_for(TriageWorkflow.run, workflow_id)
            try:
                return await handle.query(
                    TriageWorkflow.pending_review, rpc_timeout=timedelta(seconds=query_timeout)
                )
            except RPCError as err:  # finished since the listing, or no worker answers
                return None if err.status == RPCStatusCode.NOT_FOUND else err

    found = await asyncio.gather(*(one(i) for i in ids))
    requests = sorted(
        (r for r in found if isinstance(r, ReviewRequest)), key=lambda r: r.requested_at
    )
    return Queue(requests, sum(isinstance(r, RPCError) for r in found))


def pending_from_store(store: Store) -> list[ReviewRequest]:
    """Pending reviews as last persisted by the runs (no Temporal round trips)."""
    return store.pending_reviews()


async def get(client: Client, ticket_id: str) -> ReviewRequest:
    handle = ticket_handle(client, ticket_id)
    try:
        request = await handle.query(TriageWorkflow.pending_review)
    except RPCError as err:
        raise NoSuchReview(f"{handle.id}: {err.message}") from None
    if request is None:
        raise NoSuchReview(f"{handle.id}: no review is pending for this run")
    return request


async def decide(
    client: Client, ticket_id: str, decision: ReviewDecision, timeout: float = 15.0
) -> ReviewReceipt:
    """Submit through the update: the receipt, or ReviewRefused with the run's reason.
    The decision id is the update id too, so a resent decision is answered, not redone.
    NoWorker after `timeout` seconds without an answer (no worker runs)."""
    return await decide_run(client, workflow_id_for(ticket_id), decision, timeout)


async def decide_run(
    client: Client, workflow_id: str, decision: ReviewDecision, timeout: float = 15.0
) -> ReviewReceipt:
    """`decide` for a run named by its workflow id. A run that had finished before the
    decision was sent answers a resent one with its first receipt, marked duplicate (the
    server keeps a finished run's update results by id)."""
    if decision.decision_id is None:
        decision = decision.model_copy(update={"decision_id": new_decision_id()})
    handle = client.get_workflow_handle_for(TriageWorkflow.run, workflow_id)
    try:
        before = (await handle.describe()).status
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NoSuchReview(f"{handle.id}: no such run") from None
        raise
    try:
        receipt = await handle.execute_update(
            TriageWorkflow.submit_review,
            decision,
            id=decision.decision_id,
            rpc_timeout=timedelta(seconds=timeout),
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise NoWorker(
            f"{handle.id}: no worker answered within {timeout:.0f} s. Start one (aiflow dev "
            "or aiflow worker) and send the same decision again, or send it with --signal"
        ) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "ReviewRefused":
            raise ReviewRefused(cause.message) from None
        raise
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        try:
            finished = (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        except RPCError:
            finished = False
        if not finished:
            raise NoSuchReview(f"{handle.id}: {err.message}") from None
        return answered(await handle.result(), decision)
    if before != WorkflowExecutionStatus.RUNNING and not receipt.duplicate:
        receipt = receipt.model_copy(update={"duplicate": True})
    return receipt


def answered(result: TriageResult, decision: ReviewDecision) -> ReviewReceipt:
    """A decision sent again after the run ended: its receipt if it was the one applied,
    else the refusal the run would have given."""
    review = next((s for s in reversed(result.steps) if s.step == "review"), None)
    if review is None:
        raise NoSuchReview(f"{result.workflow_id}: the run ended without a review")
    d = review.details
    if d.get("decision_id") != decision.decision_id:
        by = f" by {d['reviewer']}" if d.get("reviewer") else ""
        raise ReviewRefused(f"the review was already decided: {review.outcome}{by}")
    action = ReviewAction(review.outcome)
    final = None
    if action not in CLOSING_ACTIONS:
        final = ReviewProposal(
            category=result.category, priority=result.priority, reply=result.reply
        )
    return ReviewReceipt(
        review_id=d["review_id"],
        decision_id=d["decision_id"],
        action=action,
        version=d["version"],
        duplicate=True,
        final=final,
    )


AGE_RE = re.compile(r"\s*(\d{1,9})\s*([smhd]?)\s*")
AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta | None:
    """`90s`, `15m`, `2h`, `1d` (a bare number is seconds) as a timedelta; None otherwise."""
    m = AGE_RE.fullmatch(text)
    return timedelta(seconds=int(m[1]) * AGE_UNITS[m[2]]) if m else None


BULK_CONCURRENCY = 8
BULK_STATUSES = ("applied", "already applied", "refused", "not reached")


@dataclass
class BulkResult:
    workflow_id: str
    status: str  # one of BULK_STATUSES
    detail: str  # the receipt ("review rv-… v1, decision …") or why not


async def decide_many(
    client: Client, workflow_ids: list[str], base: ReviewDecision, bulk_id: str | None
) -> list[BulkResult]:
    """`base` for each run, each its own `submit_review` update and receipt, in the order
    given. With `bulk_id`, run W's decision id is `bulk_id:W`: the same bulk sent again is
    answered with the first receipts."""
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(wf: str) -> BulkResult:
        decision = base.model_copy(update={"decision_id": f"{bulk_id}:{wf}" if bulk_id else None})
        async with gate:
            try:
                r = await decide_run(client, wf, decision)
            except ReviewRefused as err:
                return BulkResult(wf, "refused", str(err))
            except (NoSuchReview, NoWorker, RPCError) as err:
                return BulkResult(wf, "not reached", str(getattr(err, "message", None) or err))
        detail = f"review {r.review_id} v{r.version}, decision {r.decision_id}"
        return BulkResult(wf, "already applied" if r.duplicate else "applied", detail)

    return list(await asyncio.gather(*(one(wf) for wf in workflow_ids)))


async def send(client: Client, ticket_id: str, decision: ReviewDecision) -> None:
    """Fire and forget through the signal: accepted even while no worker runs; the run
    applies it if valid and logs it otherwise."""
    handle = ticket_handle(client, ticket_id)
    try:
        await handle.signal(TriageWorkflow.review_decision, decision)
    except RPCError as err:
        raise NoSuchReview(f"{handle.id}: {err.message}") from None
