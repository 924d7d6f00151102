"""Named timeout and retry profiles. Every activity call uses one of these; none runs on
Temporal's unlimited default retry policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.documents import MALFORMED
    from activities.errors import NON_RETRYABLE_TYPES


@dataclass(frozen=True)
class ActivityProfile(Mapping[str, Any]):
    """One activity call's timeouts and retry policy, spread into the call with `**`.
    Typed: a misspelt option fails at import (the worker's start), never in a workflow
    task; a retry policy is required, so no call runs on the unlimited default."""

    retry_policy: RetryPolicy
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if self.start_to_close_timeout is None and self.schedule_to_close_timeout is None:
            raise ValueError("an activity profile needs a start- or schedule-to-close timeout")

    def __getitem__(self, key: str) -> Any:
        if key not in self._set():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._set())

    def __len__(self) -> int:
        return len(self._set())

    def _set(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


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
MODEL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=60),
    heartbeat_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=5),
    retry_policy=LLM_RETRY_POLICY,
)

# The store may be briefly unavailable (failover, restart): keep trying for ten minutes
# rather than lose a run's record; after that the run fails visibly with its history intact.
STORE_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=30,
)
STORE_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=15),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=STORE_RETRY_POLICY,
)

# Reading the rule file either works at once or is a deployment error: fail fast.
CONFIG_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
)

# The breaker check is one row read; if the store is slow, calls go through (fail open).
BREAKER_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=5),
    retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200)),
)

# A cache lookup is a fast-path: if the store (or the embedder) is slow, the model answers
# instead (a miss), so two quick tries and no more. Writing back what a run learnt is
# worth a few tries, not a stuck run: the answer is lost to the cache, never to the run.
# Scoring is pure CPU; if it cannot answer, the ticket goes on through the pipeline.
SPAM_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=5),
    retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200)),
)
CACHE_LOOKUP_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=5),
    retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200)),
)
CACHE_RECORD_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=15),
    schedule_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=4
    ),
)

# An escalation notice (store row + optional webhook) is worth a few tries, not a stuck
# run: after about a minute the workflow logs it and goes on; the escalation itself is
# recorded on the review either way.
NOTIFY_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=15),
    schedule_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=4
    ),
)


# --- the drift check workflow ---------------------------------------------------------

# Two windows of the store, aggregated by one query each: minutes at most even on a busy
# week; a store outage gets five tries over about a minute, then the check fails visibly
# (the schedule runs the next one anyway).
SNAPSHOT_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(minutes=2),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_attempts=5
    ),
)
# A log line, a metric and a webhook POST (10 s client timeout): four tries over about
# a minute; a receiver down for longer misses this alert, and the next check alerts again.
ALERT_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=4
    ),
)
# One insert per run. Features feed monitoring only: after a few quick tries the run
# goes on without them rather than wait on the store.
RUN_FEATURES_LOCAL_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0, maximum_attempts=3
    ),
)


# --- the document-extraction workflow -----------------------------------------------

# Reading an original is seconds of CPU: a lost worker is retried twice; a malformed file
# never gets better, so it is not retried at all.
INGEST_ACTIVITY = ActivityProfile(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_attempts=3,
        non_retryable_error_types=[MALFORMED],
    ),
)
