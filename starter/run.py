"""Start items of any registered workflow from files; idempotent by business key.

aiflow run documents invoice.pdf mail.eml scans/   # files, or directories of them
aiflow run content briefs.jsonl --wait             # wait until each is done or in review
aiflow run tickets tickets.jsonl                   # the runs `aiflow submit` starts

`aiflow workflows` lists the names. Each item gets one line: WHERE, KEY, what happened,
the workflow id or the reason: started | rerun | not started | already submitted
(running) | already submitted (finished: OUTCOME) | already submitted (failed: rerun it
with --rerun). Ids and reasons are shown escaped.

Exit codes (as for `aiflow submit`):
  0    every item was started, or was already running or finished
  1    some item was not started (wins over 3), or (--wait) could not be followed
  3    some earlier run failed: start it again with --rerun
  2    usage error, unknown workflow, unreadable file, invalid settings
  4    no Temporal server at the address named (and the setting it came from)
  141  stdout was closed (`| head`)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from activities.store import Store
from deployment import workflow_specs
from settings import Settings
from starter.items import ItemToStart, reader_of
from starter.runs import (
    QUERY_TIMEOUT,
    EarlierRun,
    NotSettling,
    connect_cli,
    settle,
    start_once,
    unreachable,
)
from starter.terminal import (
    EXIT_FAILED_BEFORE,
    EXIT_INVALID,
    CliError,
    CliParser,
    error,
    load_settings,
    run_main,
    safe_text,
    say,
)
from workflows.registry import WorkflowSpec

PROG = "aiflow run"
REVIEW_QUERY = "field_review"  # every workflow built on workflows/field_review.py has it


async def start_item(
    client: Client, settings: Settings, spec: WorkflowSpec, item: ItemToStart, rerun: bool
) -> tuple[str, WorkflowHandle, EarlierRun | None]:
    """Start one checked item: (note, its run's handle, how an earlier run stood)."""
    s = await start_once(client, settings, spec, item, rerun)
    if s.new:
        return ("rerun" if s.earlier else "started"), s.handle, s.earlier
    e = s.earlier
    if e is None or e.running:
        return "already submitted (running)", s.handle, e
    if e.failed:
        return "already submitted (failed: rerun it with --rerun)", s.handle, e
    return f"already submitted (finished: {e.outcome or e.how})", s.handle, e


async def waiting_for(handle: WorkflowHandle) -> str | None:
    """What a person must check in the run (fields in doubt, or review reasons), or None
    while it needs no one."""
    try:
        pending = await handle.query(REVIEW_QUERY, result_type=dict, rpc_timeout=QUERY_TIMEOUT)
        return ",".join(sorted(pending["in_doubt"])) if pending else None
    except WorkflowQueryFailedError:  # a workflow with its own review (tickets): its status
        state = await handle.query("status", result_type=dict, rpc_timeout=QUERY_TIMEOUT)
        return ",".join(state.get("review_reasons") or []) if state.get("needs_review") else None


async def settled(handle: WorkflowHandle, poll: float = 0.5) -> str:
    """The run's outcome once it completes, "awaiting review: FIELDS" once a person must
    check it, or "not followed: WHY" if its status query keeps failing."""
    try:
        value, why = await settle(handle, waiting_for, poll)
    except WorkflowFailureError:
        return "failed: rerun it with --rerun"
    except NotSettling as err:
        return f"not followed: {err}"
    if why is not None:
        return "awaiting review: " + why
    found = value.get("outcome") if isinstance(value, dict) else value.outcome  # dict: untyped
    return str(getattr(found, "value", found))


async def run(args: argparse.Namespace, spec: WorkflowSpec, client: Client, s: Settings) -> int:
    store = Store(s.store_url)
    store.create_schema()
    read = reader_of(spec)
    invalid = failed_before = 0
    try:
        for path in args.files:
            for item in read(path, store, s):
                line = f"{safe_text(item.where)}\t{safe_text(item.key or '-')}\t"
                if item.error is not None:
                    invalid += 1
                    say(line + "not started\t" + safe_text(item.error, 400))
                    continue
                try:
                    note, handle, earlier = await start_item(client, s, spec, item, args.rerun)
                except RPCError as err:
                    if lost := unreachable(client, err):
                        raise lost from None
                    invalid += 1
                    say(line + "not started\tTemporal refused it: " + safe_text(err.message))
                    continue
                line += f"{note}\t{handle.id}"
                if note == "rerun" and earlier is not None:
                    line += f" (earlier run {earlier.how})"
                if note.startswith("already submitted (failed"):
                    failed_before += 1
                elif args.wait:
                    end = await settled(handle)
                    failed_before += end.startswith("failed")
                    invalid += end.startswith("not followed")
                    line += "\t" + end
                say(line)
    finally:
        store.close()
    return EXIT_INVALID if invalid else EXIT_FAILED_BEFORE if failed_before else 0


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("workflow", help="a name from `aiflow workflows`")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--wait", action="store_true", help="wait until each is done or in review")
    p.add_argument("--rerun", action="store_true", help="start again items whose run failed")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    try:
        settings = settings or load_settings()
        try:
            specs = workflow_specs(settings)
        except ValueError as err:
            raise CliError(str(err)) from None
        spec = next((s for s in specs if s.name == args.workflow), None)
        if spec is None:
            known = ", ".join(s.name for s in specs)
            raise CliError(f"unknown workflow {safe_text(args.workflow)!r} (known: {known})")
        for path in args.files:  # before connecting: a typo is not a server problem
            if not os.path.exists(path):
                raise CliError(f"cannot read {safe_text(path, 200)}: No such file or directory")
        return await run(args, spec, client or await connect_cli(settings), settings)
    except CliError as err:
        error(PROG, str(err))
        return err.code


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
