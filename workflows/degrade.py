"""Graceful degradation of model steps: a safe end for every failure class.

    class            seen as (once Temporal's retries are spent)        safe end
    unavailable      5xx, 429, timeouts, connection errors, a breaker   wait durably, retry the
                     that is open or opened mid-retry (CircuitOpen)     chain; past the outage
                                                                        window: review
                                                                        (model_unavailable:<step>)
    config           401/403, 404 model, provider not configured,       park (alert raised once by
                     unknown model, prompt file changed                 the gateway) until fixed or
                                                                        released: review
                                                                        (model_config:<step>)
    invalid_output   no model produced output that validates            review, partial attached
    budget           no model fits the run's budget                     review
    error            400, content filtered, context too long            review (model_error:<step>)

Waiting is one durable timer per round, doubling from the policy's first wait to its
maximum, and never earlier than the open breaker lets a call through: a day-long outage
costs at most ~(window / max_wait + log2(max_wait / first_wait)) rounds of history, and
no provider call while the breaker is open. Operators end a wait early with the
`retry_models` signal (try again now) or `release_to_review`. Deterministic workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

from contracts import DegradationPolicy, ModelWait, Stage
from workflows import metrics
from workflows.steps import publish

with workflow.unsafe.imports_passed_through():
    from activities.errors import CONFIG_TYPES, TRANSIENT_TYPES

UNAVAILABLE, CONFIG, INVALID, BUDGET, ERROR = (
    "unavailable",
    "config",
    "invalid_output",
    "budget",
    "error",
)
WAITABLE = frozenset({UNAVAILABLE, CONFIG})
# The reason codes a step's failure ends with (review reasons are "<code>:<step>").
REASONS = {
    UNAVAILABLE: "model_unavailable",
    CONFIG: "model_config",
    INVALID: "invalid_output",
    BUDGET: "budget",
    ERROR: "model_error",
}


def failure_class(err: ActivityError) -> str:
    """The class of a model activity's final failure."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        if cause.type == "InvalidStructuredOutput":
            return INVALID
        if cause.type in TRANSIENT_TYPES:
            return UNAVAILABLE
        if cause.type in CONFIG_TYPES:
            return CONFIG
        return ERROR
    if isinstance(cause, ActivityTimeout):  # schedule-to-close / heartbeat: a hung provider
        return UNAVAILABLE
    return ERROR


class ModelWaits:
    """The run's state of waiting for models, and the operators' handles on it."""

    def __init__(self) -> None:
        self.current: ModelWait | None = None
        self.released = False  # release_to_review: stop waiting, a person takes over
        self.nudges = 0  # retry_models: try the chain again now

    @property
    def stage(self) -> Stage | None:
        """What the run shows while it waits: parked (config) or waiting_model (outage)."""
        if self.current is None:
            return None
        return Stage.PARKED if self.current.reason == REASONS[CONFIG] else Stage.WAITING_MODEL

    def deadline(self, policy: DegradationPolicy, since: datetime, classes: set[str]) -> datetime:
        parked = CONFIG in classes and policy.on_config_error == "park"
        seconds = policy.park_seconds if parked else policy.outage_window_seconds
        return since + timedelta(seconds=seconds)

    def waitable(self, policy: DegradationPolicy, cls: str) -> bool:
        if cls == UNAVAILABLE:
            return policy.outage_window_seconds > 0
        return cls == CONFIG and policy.on_config_error == "park" and policy.park_seconds > 0

    async def wait(
        self,
        policy: DegradationPolicy,
        step: str,
        stage: str | None,
        since: datetime,
        rounds: int,
        classes: set[str],
        retry_at: datetime | None,
        models: list[str],
        errors: list[str],
    ) -> bool:
        """Wait before the next round; False when the run should stop waiting (deadline
        passed, or released to review)."""
        now = workflow.now()
        until = self.deadline(policy, since, classes)
        if self.released or now >= until:
            return False
        backoff = min(policy.first_wait_seconds * 2 ** (rounds - 1), policy.max_wait_seconds)
        backoff *= 0.9 + 0.2 * workflow.random().random()  # runs waiting together spread out
        wake = now + timedelta(seconds=backoff)
        if retry_at is not None and retry_at > wake:  # no call before the breaker allows one
            wake = retry_at
        wake = min(wake, until)
        reason = REASONS[CONFIG] if CONFIG in classes else REASONS[UNAVAILABLE]
        first = self.current is None
        self.current = ModelWait(
            step=step,
            reason=reason,
            since=since,
            until=until,
            next_check=wake,
            rounds=rounds,
            models=models,
            last_errors=errors,
        )
        if first:
            publish(self.stage)
            metrics.model_wait_started(step, reason)
            workflow.logger.warning(
                "model step %s waits for its models (%s) until %s", step, reason, until
            )
        workflow.set_current_details(
            f"**Waiting for models** ({reason}) in step `{step}` since {since:%H:%M:%S} UTC; "
            f"round {rounds}, next try {wake:%H:%M:%S}, review at {until:%Y-%m-%d %H:%M} UTC"
        )
        seen = self.nudges
        try:
            await workflow.wait_condition(
                lambda: self.released or self.nudges != seen,
                timeout=max(wake - now, timedelta(seconds=1)),
                timeout_summary=f"{step}: wait for models ({reason})",
            )
        except TimeoutError:
            pass
        return not self.released

    def done(self, stage: str | None, recovered: bool) -> None:
        """The step stopped waiting: its models answered, or it gives up."""
        if self.current is None:
            return
        metrics.model_wait_ended(self.current.step, self.current.reason, recovered)
        self.current = None
        if stage is not None:
            publish(stage)


class ModelWaitHandlers:
    """Mix into a workflow class that sets `self.waits = ModelWaits()`: the operators'
    signals every workflow with model steps answers (aiflow parked uses them)."""

    waits: ModelWaits

    @workflow.signal(name="retry_models")
    def retry_models(self) -> None:
        """An operator fixed or restored a model: a waiting step tries its chain now."""
        self.waits.nudges += 1

    @workflow.signal(name="release_to_review")
    def release_to_review(self) -> None:
        """An operator gives up waiting for the models: a person takes the item."""
        self.waits.released = True
