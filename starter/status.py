"""Show a run's live state (the `status` query) or its final result, as JSON.

aiflow status T-1001            # a ticket, by its id
aiflow status doc-3f2a...       # any other workflow's run, by its workflow id

Exit codes (starter/terminal.py): 0 shown; 1 no such run, or it ended without a result;
2 usage or invalid settings; 4 no Temporal server at the address named; 141 stdout closed.
"""

from __future__ import annotations

import argparse
import json
import sys

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from deployment import workflow_specs
from settings import Settings
from starter.field_reviews import is_field_run
from starter.runs import QUERY_TIMEOUT, connect_cli, ticket_handle, unreachable
from starter.terminal import (
    EXIT_INVALID,
    CliError,
    CliParser,
    error,
    load_settings,
    run_main,
    safe_text,
)
from workflows.triage import TriageWorkflow

PROG = "aiflow status"
# How a query's rpc_timeout ends: the SDK cancels the call ("Timeout expired")
QUERY_TIMED_OUT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


async def live_state(handle: WorkflowHandle) -> dict:
    """A running run's `status` query; for a workflow without one, its pending field
    review (every workflow built on the field review gate answers that)."""
    try:
        return await handle.query("status", rpc_timeout=QUERY_TIMEOUT)
    except WorkflowQueryFailedError:
        pending = await handle.query("field_review", rpc_timeout=QUERY_TIMEOUT)
        return {"workflow_id": handle.id, "field_review": pending}


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ticket_id", help="the ticket id (e.g. T-1001), or another run's workflow id")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or load_settings()
    try:
        specs = workflow_specs(settings)
    except ValueError as err:  # a broken AIFLOW_WORKFLOW_MODULES entry
        raise CliError(str(err)) from None
    client = client or await connect_cli(settings)
    other = is_field_run(args.ticket_id, specs)
    handle = (
        client.get_workflow_handle(args.ticket_id)
        if other
        else ticket_handle(client, args.ticket_id)
    )
    desc = None
    try:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            out = await handle.result()
        elif desc.status == WorkflowExecutionStatus.RUNNING:
            out = await (
                live_state(handle)
                if other
                else handle.query(TriageWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            )
        else:
            error(PROG, f"{handle.id} ended {desc.status.name}")
            return EXIT_INVALID
    except RPCError as err:
        if err.status in QUERY_TIMED_OUT and desc is not None:  # the query's rpc_timeout
            seconds = QUERY_TIMEOUT.total_seconds()
            error(PROG, f"{handle.id}: no worker answered in {seconds:.0f}s: is one running?")
            return EXIT_INVALID
        if lost := unreachable(client, err):
            raise lost from None
        error(PROG, f"{handle.id}: {safe_text(err.message, 200)}")
        return EXIT_INVALID
    print(json.dumps(out, indent=2) if isinstance(out, dict) else out.model_dump_json(indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
