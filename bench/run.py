"""One benchmark run: dev server, model worker under test, driver, the measured fan-out,
and the report's figures (joined with the server's histories for the phase split)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from temporalio.client import Client

import worker as aiflow_worker
from activities.catalog import Catalog
from activities.gateway import MAX_BATCH_CALLS
from activities.pipeline import model_chain, pinned_prompts
from activities.prompts import PromptLibrary
from bench.fake_openai import fake_openai
from bench.harness import (
    FanoutInput,
    FanoutResult,
    FanoutWorkflow,
    connect_when_ready,
    dev_server,
    driver_process,
    driver_worker,
)
from bench.instruments import (
    cpu_by_group,
    machine_busy_cpu,
    mean_in_flight,
    pct,
    process_tree_cpu,
    ramp_times,
    thread_cpu,
)
from bench.report import Report, activity_timings, rounded
from bench.worker_under_test import (
    MODELS,
    RESPONSE_LOGS,
    Experiments,
    build_model_worker,
    open_store,
)
from settings import ROOT, Settings

MAX_PENDING_PER_WORKFLOW = 2000  # the server's limit.numPendingActivities.error default


@dataclass
class Options:
    calls: int = 600
    concurrency: int = 500
    latency_ms: float = 1000.0
    jitter_ms: float = 0.0
    max_concurrent: int | None = None  # worker slots; default: see slot_headroom
    # Slots beyond concurrency / batch (a fraction): calls in flight are capped by the
    # gateway's per-provider permits (= concurrency); the extra slots hold batches whose
    # calls wait for a permit, so a batch finishing its bookkeeping leaves no permit idle.
    slot_headroom: float = 0.2
    driver_workflows: int = 10
    cap: str = "worker"  # worker: slots cap in-flight calls; driver: the workflows do
    experiments: Experiments = field(default_factory=Experiments)
    address: str | None = None
    namespace: str = "default"
    db_file: str | None = None
    dynamic_config: list[str] = field(default_factory=list)
    history: bool = True
    driver_in_process: bool = False  # default: the driver workflow runs in a child process
    store_url: str | None = None  # the gateway's response log; default: temp SQLite file


def load_tickets(limit: int = 40) -> list[dict[str, Any]]:
    """Classify variables (as workflows/triage.py builds them) from the offline eval set."""
    tickets = []
    for line in (ROOT / "data" / "offline" / "eval.jsonl").read_text("utf-8").splitlines():
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


def plan_workflows(opts: Options) -> list[tuple[int, int, int]]:
    """(first call, calls, activities in flight) per driver workflow. With cap=worker every
    call is scheduled at once and the worker's slots are the only limit; a workflow may
    hold at most 2000 pending activities (server default)."""
    w = opts.driver_workflows
    if opts.cap == "worker":
        w = max(w, math.ceil(opts.calls / MAX_PENDING_PER_WORKFLOW))
    plan, first = [], 0
    for k in range(w):
        n = opts.calls // w + (1 if k < opts.calls % w else 0)
        c = n if opts.cap == "worker" else opts.concurrency // w + (k < opts.concurrency % w)
        plan.append((first, n, math.ceil(c / opts.experiments.batch)))
        first += n
    return plan


HTTP_ALIAS = "bench-http"


def http_catalog(workdir: Path) -> Path:
    """aiflow's catalogue plus one target on the `local` (OpenAI-compatible) provider."""
    text = (ROOT / "data" / "models.toml").read_text("utf-8")
    text = text.replace("[aliases]\n", f'[aliases]\n{HTTP_ALIAS} = ["bench-remote"]\n', 1)
    text += (
        '\n[targets.bench-remote]\nprovider = "local"\nmodel = "bench-remote"\n'
        "context_window = 32_768\nmax_output_tokens = 2_048\n"
        "price = { input_per_mtok = 0.15, output_per_mtok = 0.60, simulated = true }\n"
    )
    path = workdir / "models.toml"
    path.write_text(text, "utf-8")
    return path


async def run_bench(opts: Options) -> Report:
    exp = opts.experiments
    if opts.calls < 1 or opts.concurrency < 1 or opts.driver_workflows < 1:
        raise ValueError("calls, concurrency and driver workflows must be >= 1")
    if opts.driver_workflows > opts.calls or (
        opts.cap == "driver" and opts.driver_workflows > opts.concurrency
    ):
        raise ValueError("driver workflows must not exceed calls (nor concurrency, cap=driver)")
    if not 1 <= exp.batch <= MAX_BATCH_CALLS:
        raise ValueError(f"batch must be 1..{MAX_BATCH_CALLS}")
    if exp.response_log not in RESPONSE_LOGS:
        raise ValueError(f"response log must be one of {sorted(RESPONSE_LOGS)}")
    if exp.model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}")
    if exp.model == "http" and opts.jitter_ms:
        raise ValueError("--jitter-ms applies to the offline provider, not --model http")
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="aiflow-bench-") as tmp:
        workdir = Path(tmp)
        remote: dict[str, Any] = {"classify_model": "offline-classify"}
        if exp.model == "http":
            remote = {"catalog_file": http_catalog(workdir), "classify_model": HTTP_ALIAS}
        settings = Settings(
            _env_file=None,
            state_dir=workdir,
            database_url=opts.store_url or f"sqlite:///{workdir / 'bench.db'}",
            model_queue=f"bench-models-{tag}",
            offline_latency_ms=opts.latency_ms,
            offline_latency_jitter_ms=opts.jitter_ms,
            offline_fault_rate=0.0,
            max_concurrent_model_activities=(
                opts.max_concurrent
                or math.ceil(opts.concurrency * (1 + opts.slot_headroom) / exp.batch)
            ),
            max_concurrent_model_calls=opts.concurrency,
            provider_rate_limits={},
            search_attributes="off",
            shutdown_grace_seconds=5,
            **remote,
        )
        async with contextlib.AsyncExitStack() as stack:
            model_pid = None
            if exp.model == "http":
                url, model_pid = await stack.enter_async_context(fake_openai(opts.latency_ms))
                settings = settings.model_copy(update={"local_base_url": url})
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
            return await _measure(opts, settings, client, (server_pid, model_pid), tag, stack)


async def _measure(
    opts: Options,
    settings: Settings,
    client: Client,
    pids: tuple[int | None, int | None],  # dev server, remote model server
    tag: str,
    stack: contextlib.AsyncExitStack,
) -> Report:
    exp = opts.experiments
    store = open_store(settings, exp)
    stack.callback(store.close)
    executor = stack.enter_context(ThreadPoolExecutor(max_workers=4))
    mw = build_model_worker(client, settings, store, executor, exp)
    # The classify target and prompt pin, resolved as a run's config resolves them.
    catalog = Catalog.load(settings.catalog_path)
    policy = aiflow_worker.run_policy(
        settings, catalog, PromptLibrary(settings.data_dir / "prompts")
    )
    target = model_chain(policy, settings.classify_model)[0]
    prompt = pinned_prompts(policy)["triage.classify"]
    driver_queue = f"bench-driver-{tag}"
    await stack.enter_async_context(mw.worker)
    driver_pid = None
    if opts.driver_in_process:
        await stack.enter_async_context(driver_worker(client, driver_queue))
    else:
        driver_pid = await stack.enter_async_context(
            driver_process(client.service_client.config.target_host, client.namespace, driver_queue)
        )
    plan = plan_workflows(opts)
    tickets = load_tickets()
    timeout = max(30.0, opts.latency_ms / 1000 * 10 + 30)

    loop = asyncio.get_running_loop()
    lags: list[float] = []
    stop = asyncio.Event()

    async def lag_monitor() -> None:
        while not stop.is_set():
            t = loop.time()
            await asyncio.sleep(0.05)
            lags.append(max(0.0, loop.time() - t - 0.05) * 1000)  # ms

    await asyncio.sleep(0.5)  # let pollers reach the server before the clock starts
    log0 = (mw.gateway.responses.rows, mw.gateway.responses.commits)
    cpu0, proc0, machine0 = thread_cpu(), os.times(), machine_busy_cpu()
    server_pid, model_pid = pids
    srv0 = process_tree_cpu(server_pid) if server_pid else 0.0
    mdl0 = process_tree_cpu(model_pid) if model_pid else 0.0
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
                    batch=exp.batch,
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
    cpu1, proc1, machine1 = thread_cpu(), os.times(), machine_busy_cpu()
    srv1 = process_tree_cpu(server_pid) if server_pid else 0.0
    mdl1 = process_tree_cpu(model_pid) if model_pid else 0.0
    drv1 = process_tree_cpu(driver_pid) if driver_pid else 0.0
    rows, commits = (
        mw.gateway.responses.rows - log0[0],
        mw.gateway.responses.commits - log0[1],
    )

    errors = [e for r in results for e in r.errors]
    ok = sum(r.ok for r in results)
    events = sorted(mw.counter.events)
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
        timings, wft = await activity_timings(client, [h.id for h in handles], mw.marks)

    cpu = {k: round(v, 2) for k, v in cpu_by_group(cpu0, cpu1).items() if v >= 0.005}
    worker_cpu = (proc1.user - proc0.user) + (proc1.system - proc0.system)
    cpu["process total (user+sys)"] = round(worker_cpu, 2)
    per_call = {"model worker process": worker_cpu}
    if driver_pid:
        cpu["driver process"] = round(drv1 - drv0, 2)
        per_call["driver process"] = drv1 - drv0
    if model_pid:
        cpu["model server process"] = round(mdl1 - mdl0, 2)
        per_call["model server process"] = mdl1 - mdl0
    if server_pid:
        cpu["dev server"] = round(srv1 - srv0, 2)
        per_call["dev server"] = srv1 - srv0
        used = srv1 - srv0 + drv1 - drv0 + mdl1 - mdl0 + worker_cpu
        cpu["machine busy %"] = round(100 * used / (wall * (os.cpu_count() or 1)), 1)
        # Anything else running meanwhile (a test suite, a build) skews every figure.
        cpu["other processes"] = round(max(0.0, machine1 - machine0 - used), 2)
    per_call["all"] = sum(per_call.values())
    pollers = (
        f"autoscale{exp.poller_autoscale}"
        if exp.poller_autoscale
        else str(exp.activity_pollers or "5 (default)")
    )
    backend = make_url(settings.store_url).get_backend_name()
    return Report(
        calls=opts.calls,
        ok=ok,
        model=f"{exp.model}: {MODELS[exp.model]}",
        concurrency=opts.concurrency,
        call_permits=settings.max_concurrent_model_calls or None,
        worker_slots=settings.max_concurrent_model_activities,
        activity_pollers=pollers,
        driver_workflows=len(plan),
        cap=opts.cap,
        batch=exp.batch,
        response_log=f"{backend}, {RESPONSE_LOGS[exp.response_log]}",
        response_log_rows_per_commit=round(rows / commits, 1) if commits else None,
        latency_ms=opts.latency_ms,
        jitter_ms=opts.jitter_ms,
        peak_in_flight=mw.counter.peak,
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
        },
        provider_latency_p50_ms=(
            round(statistics.median(durations) * 1000, 1) if durations else None
        ),
        schedule_to_start_ms=rounded(timings.get("s2s")),
        start_to_close_ms=rounded(timings.get("s2c")),
        schedule_to_close_ms=rounded(timings.get("sched_to_close")),
        phases_ms={k: rounded(d) or {} for k, d in timings.get("phases", {}).items()},
        driver_workflow_tasks=wft,
        loop_lag_ms=rounded(pct(lags)) or {},
        cpu_s=cpu,
        cpu_ms_per_call={k: round(1000 * v / max(ok, 1), 2) for k, v in per_call.items()},
        errors=errors,
    )
