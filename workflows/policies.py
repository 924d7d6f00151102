"""Named timeout and retry profiles. Every activity call uses one of these; none runs on
Temporal's unlimited default retry policy."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.errors import NON_RETRYABLE_TYPES

# Provider hiccups (429/5xx/timeouts) clear within seconds to a minute; five attempts
# with backoff ride them out, and a 429's Retry-After overrides the interval.
LLM_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
# A single model call must finish within a minute, all attempts within five; the gateway
# heartbeats every 10 s, so a worker that died mid-call is noticed after 30 s.
MODEL_ACTIVITY = {
    "start_to_close_timeout": timedelta(seconds=60),
    "heartbeat_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(minutes=5),
    "retry_policy": LLM_RETRY_POLICY,
}

# The store may be briefly unavailable (failover, restart): keep trying for ten minutes
# rather than lose a run's record; after that the run fails visibly with its history intact.
STORE_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=30,
)
STORE_LOCAL_ACTIVITY = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": STORE_RETRY_POLICY,
}

# Reading the rule file either works at once or is a deployment error: fail fast.
CONFIG_LOCAL_ACTIVITY = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
}

# The breaker check is one row read; if the store is slow, calls go through (fail open).
BREAKER_LOCAL_ACTIVITY = {
    "start_to_close_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200)),
}

# An escalation notice (store row + optional webhook) is worth a few tries, not a stuck
# run: after about a minute the workflow logs it and goes on; the escalation itself is
# recorded on the review either way.
NOTIFY_LOCAL_ACTIVITY = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=4
    ),
}
