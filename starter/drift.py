"""Drift detection: the recent window of runs against the baseline before it, per feature.

aiflow drift schedule [--every 1h]   # create or update the `aiflow-drift` Temporal Schedule
aiflow drift run [--end ISO-TIME]    # one check now (a worker must serve the queue)
aiflow drift show                    # the schedule and its latest report

Windows and the minimum sample come from the AIFLOW_DRIFT_* settings; `schedule` copies
them into the schedule, so run it again after changing them (it updates in place).

Exit codes (starter/terminal.py): 0 done; 1 no schedule, or the check failed; 2 usage or
invalid settings; 4 no Temporal server at the address named.
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts import DriftInput, DriftReport
from settings import Settings
from starter import schedules
from starter.runs import connect_cli
from starter.tables import table
from starter.terminal import EXIT_INVALID, EXIT_USAGE, CliParser, error, load_settings, run_main
from workflows.drift import DriftWorkflow

PROG = "aiflow drift"
SCHEDULE_ID = "aiflow-drift"
COLUMNS = ("FEATURE", "GROUP", "STATUS", "PSI", "KS D", "KS P", "BASELINE", "RECENT", "CHANGE")
CHECK_TIMEOUT = timedelta(minutes=10)  # a check reads two windows: minutes at worst
_EVERY_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def every(text: str) -> timedelta:
    """`1h`, `30m`, `1d`, `1h30m`: an interval of at least a minute."""
    m = _EVERY_RE.fullmatch(text.strip())
    if not text.strip() or not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 1h, 30m, 1d)")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    value = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    if value < timedelta(minutes=1):
        raise argparse.ArgumentTypeError("the interval must be at least 1m")
    return value


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    sch = sub.add_parser("schedule", help="create or update the aiflow-drift schedule")
    sch.add_argument("--every", type=every, default="1h", help="interval (default: 1h)")
    run = sub.add_parser("run", help="run one drift check now and print its report")
    run.add_argument(
        "--end",
        type=datetime.fromisoformat,
        help="end of the recent window, ISO 8601 with offset (default: now)",
    )
    sub.add_parser("show", help="the schedule and the report of its latest check")
    return p


def drift_input(settings: Settings, end: datetime | None = None) -> DriftInput:
    return DriftInput(
        recent_seconds=settings.drift_recent_seconds,
        baseline_seconds=settings.drift_baseline_seconds,
        min_samples=settings.drift_min_samples,
        end=end,
    )


def drift_schedule(settings: Settings, interval: timedelta) -> Schedule:
    """DriftCheck every `interval`; a check still running makes the next one skip, and a
    check missed while the cluster was down is not run late (the next one covers it)."""
    return schedules.every(
        ScheduleActionStartWorkflow(
            DriftWorkflow.run,
            drift_input(settings),
            id=SCHEDULE_ID,
            task_queue=settings.orchestration_queue,
            execution_timeout=CHECK_TIMEOUT,
        ),
        interval,
    )


async def upsert_schedule(client: Client, settings: Settings, interval: timedelta) -> str:
    """Create the schedule, or replace its action, spec and policy: `created`/`updated`."""
    return await schedules.upsert(client, SCHEDULE_ID, drift_schedule(settings, interval))


def _at(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(report: DriftReport) -> str:
    """The windows, one line per feature, and the verdict."""
    w = report.windows
    rows = [
        (
            f.name,
            f.group,
            f.status,
            _num(f.psi, ".4f"),
            _num(f.ks_d, ".3f"),
            _num(f.ks_p, ".2g"),
            str(f.baseline_n),
            str(f.recent_n),
            f.change,
        )
        for f in report.features
    ]
    head = (
        f"{report.workflow_id}: baseline {_at(w.baseline_start)} .. {_at(w.recent_start)}, "
        f"recent {_at(w.recent_start)} .. {_at(w.recent_end)} (UTC)"
    )
    verdict = (
        f"drifted: {', '.join(report.drifted)}"
        + ("" if report.alerted else " (alert not delivered)")
        if report.drifted
        else "no drift"
    )
    return "\n".join([head, "", table(COLUMNS, rows), "", verdict])


async def show(client: Client) -> int:
    try:
        desc = await client.get_schedule_handle(SCHEDULE_ID).describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        print(f"aiflow drift: no schedule {SCHEDULE_ID} (create it: aiflow drift schedule)")
        return 1
    spec, action = desc.schedule.spec, desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    intervals = ", ".join(str(i.every) for i in spec.intervals)
    nxt = _at(desc.info.next_action_times[0]) if desc.info.next_action_times else "-"
    print(f"schedule {SCHEDULE_ID}: every {intervals} on {action.task_queue}; next {nxt} UTC")
    if not desc.info.recent_actions:
        print("no check has run yet")
        return 0
    latest = desc.info.recent_actions[-1].action
    handle = client.get_workflow_handle_for(DriftWorkflow.run, latest.workflow_id)
    status = (await handle.describe()).status
    if status != WorkflowExecutionStatus.COMPLETED:
        print(f"latest check {latest.workflow_id}: {status.name if status else 'unknown'}")
        return 0
    print(render(await handle.result()))
    return 0


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or load_settings()
    if args.command == "run" and args.end is not None and args.end.tzinfo is None:
        error(PROG, "--end needs a UTC offset, e.g. 2025-06-01T00:00+00:00")
        return EXIT_USAGE
    client = client or await connect_cli(settings)
    if args.command == "schedule":
        done = await upsert_schedule(client, settings, args.every)
        print(
            f"schedule {SCHEDULE_ID} {done}: DriftCheck every {args.every} on "
            f"{settings.orchestration_queue}"
        )
        return 0
    if args.command == "show":
        return await show(client)
    try:
        report = await client.execute_workflow(
            DriftWorkflow.run,
            drift_input(settings, args.end),
            id=f"{SCHEDULE_ID}-run-{uuid.uuid4().hex[:12]}",
            task_queue=settings.orchestration_queue,
            execution_timeout=CHECK_TIMEOUT,
        )
    except WorkflowFailureError as err:
        error(PROG, f"the check failed: {err.cause or err}")
        return EXIT_INVALID
    print(render(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
