"""A ticket's triage runs on Temporal: its workflow id, how its latest run ended, and
starting it (again). Shared by `aiflow submit` and `aiflow retry`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import Outcome, Ticket, TriageInput
from contracts.limits import FIELD_CHARS, TICKET_ID_RE, TICKET_ID_RULE
from deployment import DEFAULT_ADDRESS, configured_address, connect
from settings import Settings
from starter.items import ItemToStart, printable
from starter.items import workflow_id as item_workflow_id
from starter.terminal import CliError, safe_text
from workflows.registry import WorkflowSpec
from workflows.triage import SPEC as TRIAGE
from workflows.triage import TriageWorkflow

_OS_MESSAGE_RE = re.compile(r'message: "([^"]{1,200})"')  # in the SDK's connect error
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


def load_settings() -> Settings:
    """Settings from the environment; a bad variable is a user error, named without its
    value (it may be a secret)."""
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CliError(f"invalid setting {safe_text(where)}: {first['msg']}") from None


async def connect_cli(settings: Settings) -> Client:
    """The Temporal client of a command; an unreachable server is a user error that names
    the address."""
    try:
        return await connect(settings)
    except RuntimeError as err:
        address = configured_address() or DEFAULT_ADDRESS
        text = str(err)
        found = _OS_MESSAGE_RE.search(text[:2000])
        reason = found.group(1) if found else text.removeprefix("Failed client connect: ")
        raise CliError(
            f"cannot reach the Temporal server at {safe_text(address)}: {safe_text(reason, 200)}"
        ) from None


def unreachable(client: Client, err: RPCError) -> CliError | None:
    """A CliError if `err` says the server went away, else None (the call was refused)."""
    if err.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return None
    address = client.service_client.config.target_host
    return CliError(
        f"cannot reach the Temporal server at {safe_text(address)}: {safe_text(err.message, 200)}"
    )
