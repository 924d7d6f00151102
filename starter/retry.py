"""Run again tickets whose earlier run failed, under the same workflow id.

aiflow retry T-1001 T-1002

A ticket is rerun when its latest run failed: Temporal status FAILED, TERMINATED,
TIMED_OUT or CANCELED, or COMPLETED with outcome "failed" (how older releases ended a
model error). The rerun gets the input the failed run was started with, read from that
run's history: no ticket file is needed (`aiflow submit --rerun FILE` reruns from a file).
A run still running, or one that finished fine, is left alone. Temporal's id-reuse
policy makes the start itself refuse while a run of the id is running: a ticket is never
processed twice at once.

Each ticket gets one line: ID, rerun or not rerun, the workflow id or the reason.

Exit codes (as for `aiflow submit`):
  0    every ticket was rerun
  1    some ticket was not: still running, finished fine, never submitted, not an id
  2    usage error, invalid settings
  4    no Temporal server at the address named (and the setting it came from)
  141  stdout was closed (`| head`): tickets after the last line shown were not rerun
"""

from __future__ import annotations

import argparse
import sys

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from contracts.limits import over_limits
from settings import Settings
from starter.runs import (
    TRIAGE,
    EarlierRun,
    connect_cli,
    earlier_run,
    start,
    started_input,
    ticket_handle,
    ticket_id_problem,
    ticket_item,
    unreachable,
)
from starter.terminal import (
    EXIT_INVALID,
    CliError,
    CliParser,
    error,
    load_settings,
    run_main,
    safe_text,
    say,
)

PROG = "aiflow retry"


async def retry(client: Client, settings: Settings, ticket_id: str) -> tuple[bool, str]:
    """Rerun one ticket if its latest run failed: `(rerun?, workflow id or why not)`."""
    if problem := ticket_id_problem(ticket_id):
        return False, problem
    handle = ticket_handle(client, ticket_id)
    earlier = await earlier_run(handle)
    if earlier is None or not earlier.failed:
        return False, _why_not(earlier)
    inp = await started_input(client, handle.id, earlier.run_id)
    if over := over_limits(inp.ticket):  # an input older releases let through
        return False, "; ".join(message for _, message in over)
    try:
        new = await start(
            client, settings, TRIAGE, ticket_item("", inp.ticket), earlier.reuse_policy
        )
    except WorkflowAlreadyStartedError:  # started again meanwhile, by someone else
        return False, _why_not(await earlier_run(handle))
    return True, f"{new.id} (earlier run {earlier.how})"


def _why_not(earlier: EarlierRun | None) -> str:
    if earlier is None:
        return "never submitted"
    if earlier.running:
        return "still running"
    outcome = earlier.outcome or earlier.how
    return f"finished with outcome {outcome}"


async def run(args: argparse.Namespace, client: Client, settings: Settings) -> int:
    not_rerun = 0
    for ticket_id in args.ticket_ids:
        try:
            rerun, detail = await retry(client, settings, ticket_id)
        except RPCError as err:
            if lost := unreachable(client, err):
                raise lost from None
            rerun, detail = False, f"Temporal refused it: {err.message}"
        if not rerun:
            not_rerun += 1
        note = "rerun" if rerun else "not rerun"
        say(f"{safe_text(ticket_id)}\t{note}\t{safe_text(detail, 400)}")
    return EXIT_INVALID if not_rerun else 0


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ticket_ids", nargs="+", metavar="TICKET_ID", help="e.g. T-1001")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    try:
        settings = settings or load_settings()
        return await run(args, client or await connect_cli(settings), settings)
    except CliError as err:
        error(PROG, str(err))
        return err.code


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
