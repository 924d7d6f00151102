"""Temporal Schedules of aiflow's periodic workflows (the drift check, the retention purge):
one interval policy and one create-or-update, shared by their commands."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)


def every(action: ScheduleActionStartWorkflow, interval: timedelta) -> Schedule:
    """`action` every `interval`; a run still going makes the next one skip, and one missed
    while the cluster was down is not run late (the next one covers it)."""
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=interval),
    )


async def upsert(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or replace its action, spec and policy: `created`/`updated`."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"
