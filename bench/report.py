"""The benchmark's report: its fields, and the per-activity phase split read from the
driver workflows' histories (server clock) joined with the worker's marks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.instruments import Marks, pct


@dataclass
class Report:
    calls: int
    ok: int
    model: str
    concurrency: int
    call_permits: int | None
    worker_slots: int
    activity_pollers: str
    driver_workflows: int
    cap: str
    batch: int
    response_log: str
    response_log_rows_per_commit: float | None
    latency_ms: float
    jitter_ms: float
    peak_in_flight: int
    wall_s: float
    throughput: float
    ideal: float
    ratio: float
    best_for_n: float
    ratio_vs_best: float
    steady_mean_in_flight: float
    steady_fill: float
    ramp_s: dict[str, float | None]
    provider_latency_p50_ms: float | None
    schedule_to_start_ms: dict[str, float] | None
    start_to_close_ms: dict[str, float] | None
    schedule_to_close_ms: dict[str, float] | None
    phases_ms: dict[str, dict[str, float]]
    driver_workflow_tasks: int | None
    loop_lag_ms: dict[str, float]  # milliseconds
    cpu_s: dict[str, float]
    cpu_ms_per_call: dict[str, float]
    errors: list[str]


PHASES = {
    "queue": "scheduled -> started (server: waiting for a poll)",
    "pickup": "started -> activity function entered (SDK delivery to Python)",
    "before": "function entered -> provider entered (gateway: response-log read, render)",
    "provider": "inside provider.complete() (the simulated latency)",
    "after": "provider returned -> function returned (gateway: response-log write, parse)",
    "complete": "function returned -> completed event (SDK completion RPC, server)",
}


async def activity_timings(client: Client, ids: list[str], marks: Marks) -> tuple[dict, int]:
    """Per-activity times from the driver histories (server clock), split into PHASES
    with this process's marks (same machine, same clock), and the number of workflow
    tasks the driver needed."""
    s2s, s2c, sched_to_close, wft = [], [], [], 0
    phases: dict[str, list[float]] = {k: [] for k in PHASES}
    gate = asyncio.Semaphore(20)
    E = EventType

    async def one(wid: str) -> None:
        nonlocal wft
        async with gate:
            hist = await client.get_workflow_handle(wid).fetch_history()
        scheduled, started, act_ids = {}, {}, {}
        for e in hist.events:
            t = e.event_time.ToNanoseconds() / 1e6
            if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[e.event_id] = t
                act_ids[e.event_id] = e.activity_task_scheduled_event_attributes.activity_id
            elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started[e.activity_task_started_event_attributes.scheduled_event_id] = t
            elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                sid = e.activity_task_completed_event_attributes.scheduled_event_id
                if sid not in scheduled or sid not in started:
                    continue
                s2s.append(started[sid] - scheduled[sid])
                s2c.append(t - started[sid])
                sched_to_close.append(t - scheduled[sid])
                m = marks.get((wid, act_ids[sid]), {})
                if {"fn_in", "fn_out", "p_in", "p_out"} <= m.keys():
                    m = {k: v * 1000 for k, v in m.items()}
                    phases["queue"].append(started[sid] - scheduled[sid])
                    phases["pickup"].append(m["fn_in"] - started[sid])
                    phases["before"].append(m["p_in"] - m["fn_in"])
                    phases["provider"].append(m["p_out"] - m["p_in"])
                    phases["after"].append(m["fn_out"] - m["p_out"])
                    phases["complete"].append(t - m["fn_out"])
            elif e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                wft += 1

    await asyncio.gather(*(one(w) for w in ids))
    timings = {"s2s": pct(s2s), "s2c": pct(s2c), "sched_to_close": pct(sched_to_close)}
    timings["phases"] = {k: pct(v) for k, v in phases.items() if v}
    return timings, wft


def rounded(d: dict[str, float] | None) -> dict[str, float] | None:
    return {k: round(v, 1) for k, v in d.items()} if d else None
