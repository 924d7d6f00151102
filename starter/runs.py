"""A ticket's triage runs on Temporal: its workflow id, how its latest run ended,
starting it (again), and following a run until it settles. Shared by `aiflow submit`,
`retry`, `run`, `status` and the demo."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import Outcome, Ticket, TriageInput
from contracts.limits import FIELD_CHARS, TICKET_ID_RE, TICKET_ID_RULE
from deployment import TemporalUnreachable, connect, connected_target
from settings import Settings
from starter.items import ItemToStart, printable
from starter.items import workflow_id as item_workflow_id
from starter.terminal import safe_text
from workflows.registry import WorkflowSpec
from workflows.triage import SPEC as TRIAGE
from workflows.triage import TriageWorkflow

# A status query a busy worker has not answered in this long is asked again; this many
# failures in a row (a minute or more) and the run is reported as not followed, not waited
# for in silence.
QUERY_TIMEOUT = timedelta(seconds=5)
QUERY_ATTEMPTS = 12
T = TypeVar("T")

# Closed without a result: Temporal's own reuse policy ALLOW_DUPLICATE_FAILED_ONLY
# accepts exactly these for a rerun.
FAILED_STATUSES = frozenset(
    {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
        WorkflowExecutionStatus.CANCELED,
    }
)


def workflow_id_for(ticket_id: str) -> str:
    """The business key: one workflow per ticket id, so a ticket is processed once. An id
    outside TICKET_ID_RE (a client that is not ours) is hashed: no control characters,
    slashes or spaces in a workflow id."""
    return item_workflow_id(TRIAGE, ticket_id)


def ticket_handle(client: Client, ticket_id: str) -> WorkflowHandle:
    """The triage run of a ticket, typed (for its query, signal and result)."""
    return client.get_workflow_handle_for(TriageWorkflow.run, workflow_id_for(ticket_id))


@dataclass(frozen=True)
class EarlierRun:
    """The latest run of a workflow id, as `describe()` (and, once completed, its result)
    tells it."""

    run_id: str
    status: WorkflowExecutionStatus
    outcome: str | None = None  # of a completed run (an Outcome for tickets)

    @property
    def running(self) -> bool:
        return self.status == WorkflowExecutionStatus.RUNNING

    @property
    def failed(self) -> bool:
        # Older releases completed a run that a model error ended, with outcome "failed".
        return self.status in FAILED_STATUSES or self.outcome == Outcome.FAILED.value

    @property
    def how(self) -> str:
        """How it ended, for a person: "terminated", "completed with outcome failed"."""
        if self.outcome is not None:
            return f"completed with outcome {self.outcome}"
        return self.status.name.lower().replace("_", " ")

    @property
    def reuse_policy(self) -> WorkflowIDReusePolicy:
        """The narrowest policy that lets a failed run be started again: a completed run
        needs ALLOW_DUPLICATE (checked to have failed, here); the others are what the
        server's own ALLOW_DUPLICATE_FAILED_ONLY check accepts."""
        if self.status == WorkflowExecutionStatus.COMPLETED:
            return WorkflowIDReusePolicy.ALLOW_DUPLICATE
        return WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY


async def earlier_run(handle: WorkflowHandle) -> EarlierRun | None:
    """The latest run of `handle`'s workflow id, or None if there never was one."""
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    outcome = None
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result()  # a typed result, or a dict from an untyped handle
        found = result.get("outcome") if isinstance(result, dict) else result.outcome
        outcome = None if found is None else str(found)
    return EarlierRun(desc.run_id, desc.status, outcome)


async def started_input(client: Client, workflow_id: str, run_id: str) -> TriageInput:
    """The input a run was started with: its history's first event, decoded with the
    client's data converter (so a rerun needs no ticket file)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [inp] = await client.data_converter.decode(payloads, [TriageInput])
        return inp
    raise LookupError(f"{workflow_id} run {run_id} has no history")


async def start(
    client: Client,
    settings: Settings,
    spec: WorkflowSpec,
    item: ItemToStart,
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.REJECT_DUPLICATE,
) -> WorkflowHandle:
    """Start the run of one checked item. A running run of the same id always refuses it
    (WorkflowAlreadyStartedError): no item is processed twice at once."""
    assert item.key is not None and item.input is not None
    return await client.start_workflow(
        spec.workflow.run,
        item.input,
        id=item_workflow_id(spec, item.key),
        task_queue=settings.orchestration_queue,
        id_reuse_policy=reuse,
        static_summary=item.summary or None,
    )


@dataclass(frozen=True)
class Started:
    """What starting an item once did: `handle` is its run (new, or the earlier one)."""

    handle: WorkflowHandle
    new: bool  # a run was started by this call
    earlier: EarlierRun | None = None  # how the id's latest run stood, if there was one


async def start_once(
    client: Client, settings: Settings, spec: WorkflowSpec, item: ItemToStart, rerun: bool
) -> Started:
    """Start the item unless a run of its id exists; `rerun`: also when that run failed
    (with the narrowest id-reuse policy that allows it)."""
    try:
        return Started(await start(client, settings, spec, item), new=True)
    except WorkflowAlreadyStartedError:
        pass
    handle = client.get_workflow_handle_for(spec.workflow.run, item_workflow_id(spec, item.key))
    earlier = await earlier_run(handle)
    if rerun and earlier is not None and earlier.failed:
        try:
            new = await start(client, settings, spec, item, earlier.reuse_policy)
            return Started(new, new=True, earlier=earlier)
        except WorkflowAlreadyStartedError:  # started again meanwhile, by someone else
            earlier = await earlier_run(handle)
    return Started(handle, new=False, earlier=earlier)


def ticket_item(where: str, ticket: Ticket) -> ItemToStart:
    """A checked ticket as an item of the triage workflow."""
    return ItemToStart(
        where,
        ticket.ticket_id,
        TriageInput(ticket=ticket),
        summary=f"Ticket {printable(ticket.ticket_id, 64)}: {printable(ticket.subject)}",
    )


def ticket_id_problem(ticket_id: str) -> str | None:
    """Why `ticket_id` cannot name a run (None if it can): empty, too long, odd characters."""
    cap = FIELD_CHARS["ticket_id"]
    if not ticket_id:
        return "ticket_id is empty"
    if len(ticket_id) > cap:
        return f"ticket_id has {len(ticket_id)} characters; the limit is {cap}"
    if not TICKET_ID_RE.fullmatch(ticket_id):
        return f"ticket_id must be {TICKET_ID_RULE}"
    return None


async def connect_cli(settings: Settings) -> Client:
    """The Temporal client of a command (deployment.connect: TemporalUnreachable, naming
    the address and the setting it came from, if no server answers)."""
    return await connect(settings)


def unreachable(client: Client, err: RPCError) -> TemporalUnreachable | None:
    """TemporalUnreachable if `err` says the server went away, else None (refused)."""
    if err.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return None
    address = client.service_client.config.target_host
    target = connected_target(address)
    source = target.source if target else "in use"
    return TemporalUnreachable(address, source, safe_text(err.message, 200))


class NotSettling(Exception):
    """A run whose status query kept failing: it could not be followed to its end."""


async def settle(
    handle: WorkflowHandle,
    needs_person: Callable[[WorkflowHandle], Awaitable[T | None]],
    poll: float = 0.5,
    attempts: int = QUERY_ATTEMPTS,
) -> tuple[Any, T | None]:
    """`(result, None)` once the run completes, or `(None, what)` once `needs_person`
    (a query, with QUERY_TIMEOUT) says a person must act. A failed query is asked again at
    the next poll; `attempts` failures in a row raise NotSettling. The server gone
    (UNAVAILABLE) is raised as is."""
    result = asyncio.ensure_future(handle.result())
    failures = 0
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=poll)
            if done:
                return result.result(), None
            try:
                found = await needs_person(handle)
            except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
                if isinstance(err, RPCError) and err.status == RPCStatusCode.UNAVAILABLE:
                    raise
                failures += 1
                if failures >= attempts:
                    raise NotSettling(
                        f"its status query failed {failures} times in a row "
                        f"(last: {safe_text(getattr(err, 'message', None) or err, 120)})"
                    ) from err
                continue
            failures = 0
            if found is not None:
                return None, found
    finally:
        result.cancel()
