"""Start items of any registered workflow from files; idempotent by business key.

aiflow run documents invoice.pdf mail.eml scans/   # files, or directories of them
aiflow run content briefs.jsonl --wait             # wait until each is done or in review
aiflow run tickets tickets.jsonl                   # the same as `aiflow submit`

`aiflow workflows` lists the names. Each item gets one line: WHERE, KEY, what happened,
the workflow id or the reason: started | rerun | not started | already submitted
(running) | already submitted (finished: OUTCOME) | already submitted (failed: rerun it
with --rerun). Ids and reasons are shown escaped.

Exit codes (as for `aiflow submit`):
  0    every item was started, or was already running or finished
  1    some item was not started (wins over 3)
  3    some earlier run failed: start it again with --rerun
  2    usage error, unknown workflow, unreadable file, invalid settings, or no Temporal
       server at the configured address
  141  stdout was closed (`| head`)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.store import Store
from settings import Settings
from starter import submit
from starter.items import ItemToStart, reader_of, workflow_id
from starter.runs import EarlierRun, connect_cli, earlier_run, load_settings, unreachable
from starter.terminal import (
    EXIT_FAILED_BEFORE,
    EXIT_INVALID,
    CliError,
    error,
    safe_text,
    say,
    stdout_closed,
)
from worker import workflow_specs
from workflows.registry import WorkflowSpec

PROG = "aiflow run"
REVIEW_QUERY = "field_review"  # every workflow built on workflows/field_review.py has it


async def start_item(
    client: Client, settings: Settings, spec: WorkflowSpec, item: ItemToStart, rerun: bool
) -> tuple[str, WorkflowHandle | None, EarlierRun | None]:
    """Start one checked item: (note, its run's handle, how an earlier run stands)."""
    assert item.key is not None and item.input is not None
    wf_id = workflow_id(spec, item.key)

    async def start(reuse: WorkflowIDReusePolicy) -> WorkflowHandle:
        return await client.start_workflow(
            spec.workflow.run,
            item.input,
            id=wf_id,
            task_queue=settings.orchestration_queue,
            id_reuse_policy=reuse,
            static_summary=item.summary or None,
        )

    try:
        return "started", await start(WorkflowIDReusePolicy.REJECT_DUPLICATE), None
    except WorkflowAlreadyStartedError:
        pass
    handle = client.get_workflow_handle(wf_id)
    earlier = await earlier_run(handle)
    if rerun and earlier is not None and earlier.failed:
        try:
            return "rerun", await start(earlier.reuse_policy), earlier
        except WorkflowAlreadyStartedError:  # started again meanwhile, by someone else
            earlier = await earlier_run(handle)
    if earlier is None or earlier.running:
        return "already submitted (running)", handle, earlier
    if earlier.failed:
        return "already submitted (failed: rerun it with --rerun)", handle, earlier
    return f"already submitted (finished: {earlier.outcome or earlier.how})", handle, earlier


async def settled(handle: WorkflowHandle, poll: float = 0.5) -> str:
    """The run's outcome once it completes, or "awaiting review: FIELDS" once a person
    must check it."""
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=poll)
            if done:
                value = result.result()  # a result model, or a dict from an untyped handle
                found = value.get("outcome") if isinstance(value, dict) else value.outcome
                return str(getattr(found, "value", found))
            pending = await handle.query(REVIEW_QUERY)
            if pending:
                return "awaiting review: " + ",".join(sorted(pending.get("in_doubt", {})))
    except WorkflowFailureError:
        return "failed: rerun it with --rerun"
    finally:
        result.cancel()


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
                    line += "\t" + end
                say(line)
    finally:
        store.close()
    return EXIT_INVALID if invalid else EXIT_FAILED_BEFORE if failed_before else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
        if spec.name == "tickets":  # one code path for tickets: aiflow submit's
            if len(args.files) != 1:
                raise CliError("tickets: give one file (as aiflow submit takes)")
            flags = [f for f, on in (("--wait", args.wait), ("--rerun", args.rerun)) if on]
            return await submit.amain([*flags, str(args.files[0])], client, settings)
        return await run(args, spec, client or await connect_cli(settings), settings)
    except CliError as err:
        error(PROG, str(err))
        return err.code


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(amain(argv))
    except BrokenPipeError:
        return stdout_closed()


if __name__ == "__main__":
    sys.exit(main())
