"""Show a run's live state (the `status` query) or its final result, as JSON.

aiflow status T-1001
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from settings import Settings
from starter.submit import ticket_handle
from worker import connect
from workflows.triage import TriageWorkflow


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow status",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ticket_id", help="the ticket id (e.g. T-1001)")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    client = client or await connect(settings or Settings())
    handle = ticket_handle(client, args.ticket_id)
    try:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            out = await handle.result()
        elif desc.status == WorkflowExecutionStatus.RUNNING:
            out = await handle.query(TriageWorkflow.status)
        else:
            print(f"aiflow status: {handle.id} ended {desc.status.name}", file=sys.stderr)
            return 1
    except RPCError as err:
        print(f"aiflow status: {handle.id}: {err.message}", file=sys.stderr)
        return 1
    print(out.model_dump_json(indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
