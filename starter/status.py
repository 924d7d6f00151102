"""Show a run's live state (the `status` query) or its final result, as JSON.

aiflow status T-1001            # a ticket, by its id
aiflow status doc-3f2a...       # any other workflow's run, by its workflow id
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from deployment import connect, workflow_specs
from settings import Settings
from starter.field_reviews import is_field_run
from starter.runs import ticket_handle
from workflows.triage import TriageWorkflow


async def live_state(handle: WorkflowHandle) -> dict:
    """A running run's `status` query; for a workflow without one, its pending field
    review (every workflow built on the field review gate answers that)."""
    try:
        return await handle.query("status")
    except WorkflowQueryFailedError:
        return {"workflow_id": handle.id, "field_review": await handle.query("field_review")}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow status",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ticket_id", help="the ticket id (e.g. T-1001), or another run's workflow id")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or Settings()
    client = client or await connect(settings)
    other = is_field_run(args.ticket_id, workflow_specs(settings))
    handle = (
        client.get_workflow_handle(args.ticket_id)
        if other
        else ticket_handle(client, args.ticket_id)
    )
    try:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            out = await handle.result()
        elif desc.status == WorkflowExecutionStatus.RUNNING:
            out = await (live_state(handle) if other else handle.query(TriageWorkflow.status))
        else:
            print(f"aiflow status: {handle.id} ended {desc.status.name}", file=sys.stderr)
            return 1
    except RPCError as err:
        print(f"aiflow status: {handle.id}: {err.message}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2) if isinstance(out, dict) else out.model_dump_json(indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
