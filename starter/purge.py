"""Delete what is older than its retention (AIFLOW_RETENTION_*_DAYS), now or daily.

aiflow purge [--dry-run] [--json]        # purge the store now (no Temporal server needed)
aiflow purge --schedule [--every 1d]     # create or update the `aiflow-purge` Schedule

Only finished runs' rows go; a run still waiting keeps everything. `--schedule` copies the
retention settings into the schedule: run it again after changing them.

Exit codes (starter/terminal.py): 0 done; 2 usage or invalid settings; 4 no Temporal
server (with --schedule) or store.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
)

from activities.purge import PURGE_TABLES, Purger
from activities.store import Store
from contracts.purge import PurgeInput, PurgeResult, Retention
from settings import Settings
from starter import schedules
from starter.drift import every
from starter.runs import connect_cli
from starter.tables import table
from starter.terminal import CliParser, load_settings, run_main
from workflows.purge import PurgeWorkflow

PROG = "aiflow purge"
SCHEDULE_ID = "aiflow-purge"
PURGE_TIMEOUT = timedelta(hours=1)  # the activity's own limits end well before


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    p.add_argument("--schedule", action="store_true", help="create or update aiflow-purge")
    p.add_argument("--every", type=every, default="1d", help="schedule interval (default: 1d)")
    return p


def retention(settings: Settings) -> Retention:
    return Retention(
        runs_days=settings.retention_runs_days,
        steps_days=settings.retention_steps_days,
        feedback_days=settings.retention_feedback_days,
        blobs_days=settings.retention_blobs_days,
    )


def purge_schedule(settings: Settings, interval: timedelta) -> Schedule:
    """RetentionPurge every `interval`; one still running makes the next skip, and one
    missed while the cluster was down is not run late (the next one catches up)."""
    return schedules.every(
        ScheduleActionStartWorkflow(
            PurgeWorkflow.run,
            PurgeInput(retention=retention(settings)),
            id=SCHEDULE_ID,
            task_queue=settings.orchestration_queue,
            execution_timeout=PURGE_TIMEOUT,
        ),
        interval,
    )


async def upsert_schedule(client: Client, settings: Settings, interval: timedelta) -> str:
    """Create the schedule, or replace its action, spec and policy: `created`/`updated`."""
    return await schedules.upsert(client, SCHEDULE_ID, purge_schedule(settings, interval))


def purge_now(settings: Settings, dry_run: bool) -> PurgeResult:
    store = Store(settings.store_url)
    try:
        store.create_schema()
        return Purger(store.engine).purge(
            PurgeInput(retention=retention(settings), dry_run=dry_run)
        )
    finally:
        store.close()


def render(result: PurgeResult) -> str:
    verb = "WOULD GO" if result.dry_run else "DELETED"
    cutoffs = ", ".join(f"{k} before {v:%Y-%m-%d %H:%M}" for k, v in result.cutoffs.items())
    rows = [(t, str(result.removed.get(t, 0))) for t in PURGE_TABLES]
    head = f"retention: {cutoffs or 'everything kept forever'} (UTC)"
    return "\n".join([head, "", table(("TABLE", f"ROWS {verb}"), rows)])


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or load_settings()
    if args.schedule:
        client = client or await connect_cli(settings)
        done = await upsert_schedule(client, settings, args.every)
        print(
            f"schedule {SCHEDULE_ID} {done}: RetentionPurge every {args.every} on "
            f"{settings.orchestration_queue}"
        )
        return 0
    result = await asyncio.to_thread(purge_now, settings, args.dry_run)
    print(result.model_dump_json(indent=2) if args.json else render(result))
    return 0


def main(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    return run_main(lambda a: amain(a, client, settings), argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
