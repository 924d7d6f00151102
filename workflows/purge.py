"""The retention purge: one activity that deletes what is older than its retention.
Started daily by the `aiflow-purge` Temporal Schedule (`aiflow purge --schedule`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from contracts.purge import PurgeInput, PurgeResult
from workflows.policies import ActivityProfile

with workflow.unsafe.imports_passed_through():
    from activities.purge import PurgeActivities

# A day's expired rows are a few bulk DELETEs: minutes at worst. A store outage gets four
# tries over about two minutes, then the purge fails visibly; tomorrow's run catches up,
# and a retried attempt deletes only what the failed one did not commit.
PURGE_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(minutes=10),
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=10), backoff_coefficient=2.0, maximum_attempts=4
    ),
)


@workflow.defn(name="RetentionPurge", failure_exception_types=[Exception])
class PurgeWorkflow:
    @workflow.run
    async def run(self, inp: PurgeInput) -> PurgeResult:
        # the cutoffs are pinned to the workflow's clock, so a retry deletes the same span
        pinned = inp.model_copy(update={"now": inp.now or workflow.now()})
        return await workflow.execute_activity_method(
            PurgeActivities.purge, pinned, summary="retention purge", **PURGE_ACTIVITY
        )
