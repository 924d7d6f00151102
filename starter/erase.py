"""Erase one customer's data: their runs' rows in the store, the cache entries those runs
wrote, their large bodies and payload blobs, and the runs' Temporal histories.

aiflow erase --customer EMAIL [--dry-run] [--json] [--feedback-dir DIR] [--wait-seconds 30]

A run of theirs still in flight is ended first (cancelled, then terminated if it has not
closed within --wait-seconds), so it cannot write again after its rows are gone; then the
rows go in one transaction, then every run's history is deleted. Feedback files exported
earlier (`aiflow feedback export`) are outside the store: name their folder with
--feedback-dir to rewrite its *.jsonl without the customer's lines, or export again.
--dry-run changes nothing and needs no Temporal server.

Exit codes (starter/terminal.py): 0 done; 1 a run could not be ended or a history not
deleted (run it again); 2 usage or invalid settings; 4 no Temporal server or store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.erasure import TABLES, Eraser, FoundRun, customer_key, scrub_feedback_dir
from activities.store import Store
from settings import Settings
from starter.runs import connect_cli
from starter.tables import table
from starter.terminal import EXIT_INVALID, CliError, CliParser, load_settings, run_main

PROG = "aiflow erase"
END_REASON = "erased at the customer's request"
POLL = 0.2  # seconds between looks at a run being cancelled


@dataclass
class Report:
    customer_key: str
    dry_run: bool
    runs: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    runs_ended: dict[str, str] = field(default_factory=dict)  # workflow id -> how
    histories_deleted: int = 0
    problems: list[str] = field(default_factory=list)
    feedback_files: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "customer_key": self.customer_key,
            "dry_run": self.dry_run,
            "runs": self.runs,
            "removed": self.removed,
            "runs_ended": self.runs_ended,
            "histories_deleted": self.histories_deleted,
            "feedback_files": self.feedback_files,
            "problems": self.problems,
        }


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--customer", required=True, metavar="EMAIL", help="the customer's e-mail")
    p.add_argument("--dry-run", action="store_true", help="show what would go; change nothing")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--feedback-dir", type=Path, help="exported feedback files to rewrite")
    p.add_argument(
        "--wait-seconds",
        type=float,
        default=30.0,
        help="how long a cancelled run may take to close before it is terminated (30)",
    )
    return p


async def end_run(client: Client, run: FoundRun, wait: float) -> str | None:
    """Cancel, wait up to `wait` s, terminate if still running: how it ended, or None
    when Temporal has no such run open."""
    handle = client.get_workflow_handle(run.workflow_id)
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return None
        await handle.cancel()
        deadline = asyncio.get_running_loop().time() + wait
        while asyncio.get_running_loop().time() < deadline:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return "cancelled"
            await asyncio.sleep(POLL)
        await handle.terminate(reason=END_REASON)
        return "terminated"
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def delete_histories(client: Client, workflow_id: str, run_id: str) -> int:
    """Delete every execution of the workflow id Temporal lists (and the stored run)."""
    run_ids = {run_id}
    async for wf in client.list_workflows(f'WorkflowId = "{workflow_id}"'):
        run_ids.add(wf.run_id)
    deleted = 0
    for rid in sorted(run_ids):
        try:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=rid),
                )
            )
            deleted += 1
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return deleted


async def erase(
    email: str,
    settings: Settings,
    client: Client | None,
    *,
    dry_run: bool = False,
    feedback_dir: Path | None = None,
    wait: float = 30.0,
) -> Report:
    keyring = settings.keyring()
    store = Store(settings.store_url)
    try:
        store.create_schema()
        eraser = Eraser(store.engine)
        found = await asyncio.to_thread(eraser.find, email, keyring)
        report = Report(customer_key(email, keyring)[:20] + "…", dry_run, runs=len(found.runs))
        if dry_run:
            report.removed = await asyncio.to_thread(eraser.count, found)
            report.runs_ended = {r.workflow_id: "would end" for r in found.runs if r.in_flight}
            report.histories_deleted = len(found.runs)
        else:
            client = client or await connect_cli(settings)
            for run in found.runs:  # before the rows go: a live run could write them again
                if run.in_flight:
                    how = await end_run(client, run, wait)
                    if how:
                        report.runs_ended[run.workflow_id] = how
            report.removed = await asyncio.to_thread(eraser.delete, found)
            for run in found.runs:
                try:
                    report.histories_deleted += await delete_histories(
                        client, run.workflow_id, run.run_id
                    )
                except RPCError as err:
                    report.problems.append(f"{run.workflow_id}: history not deleted: {err}")
        if feedback_dir is not None:
            if not feedback_dir.is_dir():
                raise CliError(f"--feedback-dir {feedback_dir}: not a folder")
            report.feedback_files = scrub_feedback_dir(feedback_dir, email, found, dry_run=dry_run)
        return report
    finally:
        store.close()


def render(report: Report) -> str:
    verb = "would remove" if report.dry_run else "removed"
    rows = [(t, str(report.removed.get(t, 0))) for t in TABLES]
    rows += [(f"feedback file {name}", str(n)) for name, n in report.feedback_files.items()]
    lines = [
        f"customer {report.customer_key}: {report.runs} run(s)"
        + (" (dry run: nothing changed)" if report.dry_run else ""),
        "",
        table(("TABLE", f"ROWS {verb.upper()}"), rows),
        "",
        f"runs {'to end' if report.dry_run else 'ended'}: {len(report.runs_ended)}"
        + "".join(f"\n  {wid}: {how}" for wid, how in report.runs_ended.items()),
        f"histories {'to delete' if report.dry_run else 'deleted'}: {report.histories_deleted}",
    ]
    lines += [f"problem: {p}" for p in report.problems]
    return "\n".join(lines)


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    email = args.customer.strip()
    if "@" not in email or len(email) > 320:
        raise CliError(f"--customer {email[:80]!r}: not an e-mail address")
    if args.wait_seconds < 0:
        raise CliError("--wait-seconds must be at least 0")
    settings = settings or load_settings()
    report = await erase(
        email,
        settings,
        client,
        dry_run=args.dry_run,
        feedback_dir=args.feedback_dir,
        wait=args.wait_seconds,
    )
    print(json.dumps(report.as_json(), indent=2) if args.json else render(report))
    return EXIT_INVALID if report.problems else 0


def main(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    return run_main(lambda a: amain(a, client, settings), argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
