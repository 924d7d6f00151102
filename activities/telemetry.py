"""Process-side metrics: the Prometheus endpoint and the gauges only the store knows.

Temporal's runtime serves one Prometheus endpoint per process (`AIFLOW_METRICS_ADDRESS`)
with the SDK's own metrics and everything aiflow's workflows emit through
`workflow.metric_meter()` (workflows/metrics.py). What no single run knows — how many
reviews wait, how many are overdue, each breaker's state — a worker samples from the
store every few seconds and sets as gauges on the same meter.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from datetime import UTC, datetime

import structlog
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreakers
from activities.review_store import ReviewRow
from activities.store import Store

log = structlog.get_logger("aiflow.telemetry")

BREAKER_STATES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
# Buckets fitted to each histogram's unit (the SDK's defaults suit milliseconds only).
BUCKETS = {
    "aiflow_step_latency_ms": [5, 25, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000],
    "aiflow_run_decision_latency_ms": [100, 500, 1000, 2500, 5000, 10000, 15000, 30000, 60000],
    "aiflow_model_cost_usd": [1e-6, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1],
    "aiflow_run_cost_usd": [1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.02, 0.05, 0.1],
    "aiflow_time_to_review_s": [60, 300, 900, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400],
}


def prometheus_runtime(address: str) -> Runtime:
    """A runtime whose metrics (SDK + aiflow's) are served at http://ADDRESS/metrics."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=address, histogram_bucket_overrides=BUCKETS)
        )
    )


class StoreGauges:
    """Review queue depth, overdue reviews and breaker states, sampled from the store."""

    def __init__(self, meter: MetricMeter, store: Store, breakers: CircuitBreakers) -> None:
        self.store = store
        self.breakers = breakers
        self.depth = meter.create_gauge("aiflow_review_queue_depth", "Reviews pending")
        self.overdue = meter.create_gauge("aiflow_review_queue_overdue", "Reviews past SLA")
        self.breaker = meter.create_gauge(
            "aiflow_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open"
        )

    def sample(self) -> dict[str, int]:
        now = datetime.now(UTC)
        with Session(self.store.engine) as session:
            pending = ReviewRow.status == "pending"
            depth = session.exec(select(func.count()).where(pending)).one()
            overdue = session.exec(
                select(func.count()).where(pending, ReviewRow.sla_deadline < now)
            ).one()
        self.depth.set(depth)
        self.overdue.set(overdue)
        states = {s.key: BREAKER_STATES.get(s.state, 2) for s in self.breakers.snapshot()}
        for key, value in states.items():
            self.breaker.set(value, {"breaker": key})
        return {"depth": depth, "overdue": overdue, **states}

    async def run(self, every_seconds: float, stop: asyncio.Event, executor: Executor) -> None:
        """Sample until `stop` is set; a failed sample is logged and retried next round."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await loop.run_in_executor(executor, self.sample)
            except Exception as err:  # the store is down: the next round tries again
                log.warning("telemetry.sample_failed", error=type(err).__name__)
            try:
                await asyncio.wait_for(stop.wait(), every_seconds)
            except TimeoutError:
                pass
