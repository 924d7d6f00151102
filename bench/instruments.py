"""What the benchmark measures inside the model worker: calls inside the provider, the
SDK's entry into and exit from each activity, in-flight statistics and CPU by thread.

Both instruments plug into aiflow's production worker through its documented hooks
(`build_workers(providers=..., model_worker_hook=...)`); nothing is patched."""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Wall-clock marks per activity, keyed by (workflow id, activity id), joined with the
# server's history events afterwards: fn_in/fn_out around the activity function (an
# inbound interceptor), p_in/p_out around provider.complete().
Marks = dict[tuple[str, str], dict[str, float]]


class CountingProvider:
    """Wraps the worker's provider; records every entry and exit of complete()."""

    def __init__(self, inner: Any, marks: Marks) -> None:
        self.inner = inner
        self.name = inner.name
        self.in_flight = 0
        self.peak = 0
        self.events: list[tuple[float, int]] = []  # (perf_counter, +1 | -1)
        self.marks = marks

    async def complete(self, request: Any) -> Any:
        info = activity.info()
        mark = self.marks.setdefault((info.workflow_id or "", info.activity_id), {})
        mark["p_in"] = time.time()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.events.append((time.perf_counter(), 1))
        try:
            return await self.inner.complete(request)
        finally:
            self.in_flight -= 1
            self.events.append((time.perf_counter(), -1))
            mark["p_out"] = time.time()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TimingInterceptor(Interceptor):
    """Marks when the SDK enters and leaves each activity function."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        marks = self.marks

        class _Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                info = activity.info()
                mark = marks.setdefault((info.workflow_id or "", info.activity_id), {})
                mark["fn_in"] = time.time()
                try:
                    return await self.next.execute_activity(input)
                finally:
                    mark["fn_out"] = time.time()

        return _Inbound(next)


def mean_in_flight(events: list[tuple[float, int]], start: float, end: float) -> float:
    """Time-weighted mean of the in-flight count over [start, end]."""
    if end <= start:
        return 0.0
    level, area, last = 0, 0.0, start
    for t, delta in sorted(events):
        if t > start:
            area += level * (min(t, end) - last)
            last = min(t, end)
        if t >= end:
            break
        level += delta
    area += level * (end - last)
    return area / (end - start)


def ramp_times(events: list[tuple[float, int]], target: int) -> dict[str, float | None]:
    """Seconds from the first entry until 50 / 90 / 100 % of `target` were in flight."""
    out: dict[str, float | None] = {"50%": None, "90%": None, "100%": None}
    if not events:
        return out
    t0, level = events[0][0], 0
    for t, delta in sorted(events):
        level += delta
        for key, frac in (("50%", 0.5), ("90%", 0.9), ("100%", 1.0)):
            if out[key] is None and level >= math.ceil(frac * target):
                out[key] = t - t0
    return out


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p95": at(0.95), "max": values[-1]}


# --- CPU accounting ----------------------------------------------------------------------


def _proc_cpu(stat_path: str) -> tuple[str, float]:
    raw = Path(stat_path).read_text()
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def thread_cpu() -> dict[int, tuple[str, float]]:
    out = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            out[int(task.name)] = _proc_cpu(str(task / "stat"))
    return out


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (the dev server)."""
    total = 0.0
    with contextlib.suppress(OSError, ValueError):
        total += _proc_cpu(f"/proc/{pid}/stat")[1]
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += process_tree_cpu(int(child))
    return total


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine spent busy (all processes, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def cpu_by_group(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per thread group between two snapshots."""
    pid = os.getpid()
    groups: dict[str, float] = {}
    for tid, (comm, cpu) in after.items():
        used = cpu - before.get(tid, (comm, 0.0))[1]
        if tid == pid:
            name = "python main thread (asyncio loop)"
        elif comm.startswith("tokio") or "runtime" in comm:
            name = "sdk-core threads (Rust)"
        else:
            name = f"other threads ({comm})"
        groups[name] = groups.get(name, 0.0) + used
    return groups
