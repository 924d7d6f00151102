"""Runs waiting for their models: list them, retry them now, or release them to review.

A model step whose models cannot answer waits durably (workflows/degrade.py): stage
`waiting_model` during an outage, `parked` while a model's configuration is broken (a bad
key, an unknown model id). Once the fix is deployed:

aiflow parked                          # ticket, stage, step, since, next try, review at
aiflow breakers reset config:openai/gpt-4o-mini   # the model's config breaker, if open
aiflow parked retry --all              # every waiting run tries its models now
aiflow parked release T-1001 T-1002    # stop waiting: a person takes these tickets

Exit codes (starter/terminal.py): 0 done; 1 some run was not found or not waiting;
2 usage or invalid settings; 4 no Temporal server at the address named.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from contracts import RunState, Stage
from settings import Settings
from starter.runs import connect_cli, ticket_handle, unreachable
from starter.tables import table
from starter.terminal import CliParser, load_settings, run_main, safe_text
from workflows.triage import TriageWorkflow

WAITING_QUERY = (
    f"AiflowStage IN ('{Stage.WAITING_MODEL.value}', '{Stage.PARKED.value}') "
    "AND ExecutionStatus = 'Running'"
)
COLUMNS = ("TICKET", "STAGE", "STEP", "REASON", "SINCE", "NEXT TRY", "REVIEW AT", "ROUNDS")
QUERY_TIMEOUT = timedelta(seconds=5)
PROG = "aiflow parked"


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action")
    sub.add_parser("list", help="the runs waiting for their models (the default)")
    for name, help_ in (
        ("retry", "try the models again now (after a fix or a recovery)"),
        ("release", "stop waiting: send the tickets to human review"),
    ):
        one = sub.add_parser(name, help=help_)
        one.add_argument("ticket_ids", nargs="*", help="ticket ids (e.g. T-1001)")
        one.add_argument("--all", action="store_true", help="every waiting run")
    return p


async def waiting(client: Client) -> list[RunState]:
    """The waiting runs, as they report themselves (a run that finished since the listing,
    or whose worker does not answer, is left out)."""
    ids = [wf.id async for wf in client.list_workflows(WAITING_QUERY)]

    async def one(workflow_id: str) -> RunState | None:
        handle = client.get_workflow_handle_for(TriageWorkflow.run, workflow_id)
        try:
            return await handle.query(TriageWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            return None

    states = await asyncio.gather(*(one(i) for i in ids))
    return [s for s in states if s is not None and s.model_wait is not None]


def _at(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def render(states: list[RunState]) -> str:
    rows = []
    for s in sorted(states, key=lambda s: s.model_wait.since):
        w = s.model_wait
        rows.append(
            (
                s.ticket_id,
                s.stage.value,
                w.step,
                w.reason,
                _at(w.since),
                _at(w.next_check),
                _at(w.until),
                str(w.rounds),
            )
        )
    return table(COLUMNS, rows)


async def signal(client: Client, action: str, ticket_ids: list[str]) -> int:
    failures = 0
    for ticket_id in ticket_ids:
        handle = ticket_handle(client, ticket_id)
        try:
            state = await handle.query(TriageWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            if state.model_wait is None:
                print(f"{safe_text(ticket_id)}\tnot waiting for models (stage {state.stage.value})")
                failures += 1
                continue
            if action == "retry":
                await handle.signal(TriageWorkflow.retry_models)
            else:
                await handle.signal(TriageWorkflow.release_to_review)
        except RPCError as err:
            if err.status == RPCStatusCode.UNAVAILABLE:  # a slow query is this ticket's error
                raise unreachable(client, err) from None
            found = err.status != RPCStatusCode.NOT_FOUND
            print(f"{safe_text(ticket_id)}\t{'error: ' + err.message if found else 'no such run'}")
            failures += 1
            continue
        done = "retrying now" if action == "retry" else "released to review"
        print(f"{safe_text(ticket_id)}\t{done}")
    return 1 if failures else 0


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    p = parser()
    args = p.parse_args(argv)
    action = args.action or "list"
    if action != "list" and not args.all and not args.ticket_ids:
        p.error(f"{action}: name ticket ids or --all")
    client = client or await connect_cli(settings or load_settings())
    if action == "list":
        states = await waiting(client)
        print(render(states) if states else "no run is waiting for its models")
        return 0
    ids = args.ticket_ids or [s.ticket_id for s in await waiting(client)]
    return await signal(client, action, ids)


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
