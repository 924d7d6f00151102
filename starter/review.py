"""Answer the runs that wait for a reviewer (the minimal reviewer tool).

    aiflow review list
    aiflow review approve T-1001 --reviewer ana@example.com
    aiflow review edit T-1001 --reviewer ana@example.com --reply "Hello ..."
    aiflow review reject T-1001 --reviewer ana@example.com --note "duplicate"

Decisions travel as the `submit_review` signal, so they are accepted even while no worker
runs and applied when one starts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from contracts import ReviewAction, ReviewDecision
from settings import Settings
from starter.submit import ticket_handle
from worker import connect
from workflows.triage import TriageWorkflow

PENDING_QUERY = "AiflowNeedsReview = true AND ExecutionStatus = 'Running'"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="runs waiting for a reviewer (from Temporal visibility)")
    for action in ReviewAction:
        a = sub.add_parser(action.value, help=f"{action.value} the AI proposal of a ticket")
        a.add_argument("ticket_id", help="the ticket id (e.g. T-1001)")
        a.add_argument("--reviewer", required=True, help="who decides (name or email)")
        a.add_argument("--note", help="a reason or comment, kept with the decision")
        if action == ReviewAction.EDIT:
            a.add_argument("--reply", required=True, help="the corrected reply to send")
            a.add_argument("--category", help="a corrected category")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    client = client or await connect(settings or Settings())
    if args.command == "list":
        count = 0
        async for wf in client.list_workflows(PENDING_QUERY):
            count += 1
            print(f"{wf.id}\tstarted {wf.start_time:%Y-%m-%d %H:%M:%S}\t{wf.workflow_type}")
        print(f"{count} run(s) awaiting review")
        return 0
    try:
        decision = ReviewDecision(
            action=ReviewAction(args.command),
            reviewer=args.reviewer,
            note=args.note,
            reply=getattr(args, "reply", None),
            category=getattr(args, "category", None),
        )
    except ValidationError as err:
        print(f"aiflow review: invalid decision: {err.errors()[0]['msg']}", file=sys.stderr)
        return 2
    handle = ticket_handle(client, args.ticket_id)
    try:
        await handle.signal(TriageWorkflow.submit_review, decision)
    except RPCError as err:
        print(f"aiflow review: {handle.id}: {err.message}", file=sys.stderr)
        return 1
    print(f"{decision.action.value} sent to {handle.id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
