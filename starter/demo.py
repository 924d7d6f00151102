"""The main job: triage the bundled tickets through the real stack and print what happened.

Starts the embedded Temporal dev server if none answers (and leaves it running so the
Web UI and the waiting reviews stay reachable), runs a worker in this process, submits
every ticket, and prints one line per ticket and the totals. Running it again is safe:
tickets already processed are reported from their recorded result, not processed again.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from activities.store import Store
from contracts import RunState, TriageResult
from settings import Settings
from starter import devserver
from starter.submit import Submitted, read_tickets, submit, wait_settled
from worker import configure_logging, connect, run_workers

HEADER = (
    f"{'ticket':<10} {'outcome':<16} {'route':<19} {'category':<10} {'conf':>5} "
    f"{'cost $':>10} {'latency':>9} {'steps':>5}  note"
)


def _line(sub: Submitted, settled: TriageResult | RunState | None, wall_ms: float) -> str:
    if settled is None:
        return f"{sub.ticket_id:<10} {'not started':<16} {sub.error}"
    note = "already processed; recorded result" if sub.duplicate else ""
    if isinstance(settled, TriageResult):
        r = settled
        detail = ",".join(r.reasons) if r.outcome.value != "resolved" else ""
        if r.error:
            detail = r.error
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "-"
        return (
            f"{r.ticket_id:<10} {r.outcome.value:<16} {r.route:<19} {r.category or '-':<10} "
            f"{conf:>5} {r.cost_usd:>10.6f} {r.latency_ms:>7.0f}ms {len(r.steps):>5}  "
            f"{'; '.join(x for x in (detail, note) if x)}"
        )
    s = settled
    c = s.classification
    conf = f"{c.confidence:.2f}" if c else "-"
    return (
        f"{s.ticket_id:<10} {'awaiting_review':<16} {'review':<19} "
        f"{c.category if c else '-':<10} {conf:>5} {s.cost_usd:>10.6f} {wall_ms:>7.0f}ms "
        f"{len(s.steps):>5}  {','.join(s.review_reasons)}{'; ' + note if note else ''}"
    )


async def run_batch(
    client: Client, settings: Settings, tickets: list[dict], concurrency: int = 16
) -> list[tuple[Submitted, TriageResult | RunState | None, float]]:
    store = Store(settings.store_url)
    store.create_schema()
    gate = asyncio.Semaphore(concurrency)

    async def one(raw: dict):
        async with gate:
            t0 = time.perf_counter()
            sub = await submit(client, settings, store, raw)
            settled = await wait_settled(sub.handle) if sub.handle else None
            return sub, settled, (time.perf_counter() - t0) * 1000

    try:
        return await asyncio.gather(*(one(raw) for raw in tickets))
    finally:
        store.close()


def report(rows, wall_s: float, settings: Settings) -> str:
    lines = [HEADER]
    outcomes: Counter[str] = Counter()
    cost = calls = 0.0
    latencies = []
    for sub, settled, wall_ms in rows:
        lines.append(_line(sub, settled, wall_ms))
        if isinstance(settled, TriageResult):
            outcomes[settled.outcome.value] += 1
            cost += settled.cost_usd
            calls += settled.model_calls
            latencies.append(settled.latency_ms)
        elif isinstance(settled, RunState):
            outcomes["awaiting_review"] += 1
            cost += settled.cost_usd
            calls += sum(1 for st in settled.steps if st.kind == "model" and st.outcome == "ok")
        else:
            outcomes["not_started"] += 1
    n = len(rows)
    by_rule = outcomes["closed"] + outcomes["rejected"]
    lines += [
        "",
        f"tickets {n}: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
        f"model calls {int(calls)} (rules and intake settled {by_rule} tickets without one); "
        f"cost ${cost:.6f} (offline model: simulated prices)",
    ]
    if latencies:
        q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
        lines.append(
            f"completed-run latency p50 {statistics.median(latencies):.0f} ms, "
            f"p95 {q[18]:.0f} ms; batch wall time {wall_s:.1f} s"
        )
    return "\n".join(lines)


def where_to_look(settings: Settings, rows) -> str:
    waiting = [s.ticket_id for s, settled, _ in rows if isinstance(settled, RunState)]
    text = [
        "",
        f"Temporal Web UI: {devserver.ui_url(settings)}  (filter: AiflowNeedsReview = true)",
        f"Store: {settings.store_url}",
    ]
    if waiting:
        example = waiting[0]
        text += [
            f"{len(waiting)} ticket(s) wait for a reviewer: {', '.join(waiting)}",
            "Answer one (applied when a worker runs: `aiflow dev` or `aiflow worker`):",
            f"  aiflow review approve {example} --reviewer you@example.com",
            f"  aiflow review edit {example} --reviewer you@example.com --reply 'Hello ...'",
            f"  aiflow review reject {example} --reviewer you@example.com --note 'why'",
        ]
    text.append("Stop the dev server with `aiflow dev stop`.")
    return "\n".join(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--tickets",
        type=Path,
        default=None,
        help="JSONL file of tickets (default: data/tickets/demo.jsonl)",
    )
    p.add_argument("--concurrency", type=int, default=16, help="tickets in flight (default 16)")
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or Settings()
    if client is None:
        configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
        if devserver.ensure(settings):
            print(
                f"started the Temporal dev server ({devserver.ui_url(settings)}); "
                f"state in {settings.state_dir / 'temporal.db'}"
            )
        client = await connect(settings)
    tickets = read_tickets(args.tickets or settings.data_dir / "tickets" / "demo.jsonl")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_workers(settings, client, stop))
    try:
        t0 = time.perf_counter()
        rows = await run_batch(client, settings, tickets, args.concurrency)
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        await worker
    print(report(rows, wall, settings))
    print(where_to_look(settings, rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(amain(argv))
    except devserver.DevServerError as err:
        print(f"aiflow demo: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
