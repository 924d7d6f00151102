"""The main job: triage the bundled tickets through the real stack and print what happened.

Starts the embedded Temporal dev server if none answers (and leaves it running so the
Web UI and the waiting reviews stay reachable), runs a worker in this process, submits
every ticket, and prints one line per ticket and the totals. Running it again is safe:
tickets already processed are reported from their recorded result, not processed again.
Progress goes to stderr: a live bar on a terminal, a line every 10 s otherwise.

Exit codes (starter/terminal.py): 0 done; 1 the worker stopped; 2 usage, an unreadable
tickets file, invalid settings; 4 Temporal unreachable, or the dev server cannot start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError

from activities.store import Store
from contracts import RunState, TriageResult
from contracts.cache import TIERS
from deployment import configure_logging, configured_address, connect, workflow_specs
from protection.codec import UNENCRYPTED_NOTICE
from settings import Settings
from starter import devserver
from starter.demo_items import demo_items, run_demo
from starter.runs import NotSettling
from starter.submit import Submitted, read_tickets, submit, wait_settled
from starter.tables import table
from starter.terminal import (
    EXIT_INVALID,
    CliError,
    CliParser,
    Progress,
    at_least,
    load_settings,
    run_main,
    safe_text,
)
from worker import SearchAttributesMissing, run_workers
from workflows.registry import WorkflowSpec

PROG = "aiflow demo"
COLUMNS = ("ticket", "outcome", "route", "category", "conf", "cost $", "latency", "steps", "note")
NUMBERS = {4, 5, 6, 7}  # right-aligned
NOTE_CHARS = 200


@dataclass
class Row:
    """One ticket's line: from its result, or from its live state while it awaits review."""

    ticket_id: str
    outcome: str
    route: str = "-"
    category: str | None = None
    confidence: float | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0  # workflow time: start to completion, or to the review wait
    steps: int = 0
    model_calls: int = 0
    note: str = ""
    tier: str | None = None  # the ladder's tier that settled it (layered config only)

    @classmethod
    def of(cls, sub: Submitted, settled: TriageResult | RunState | None) -> Row:
        again = "already processed: recorded result" if sub.duplicate else ""
        if settled is None:
            if sub.error:
                return cls(safe_text(sub.ticket_id), "not_started", note=safe_text(sub.error))
            return cls(sub.ticket_id, "failed", note=f"run failed: aiflow retry {sub.ticket_id}")
        if isinstance(settled, TriageResult):
            r = settled
            detail = r.error or ("" if r.outcome.value == "resolved" else ",".join(r.reasons))
            return cls(
                r.ticket_id,
                r.outcome.value,
                r.route,
                r.category,
                r.confidence,
                r.cost_usd,
                r.latency_ms,
                len(r.steps),
                r.model_calls,
                "; ".join(x for x in (detail, again) if x),
                next((x.details.get("tier") for x in r.steps if x.step == "finalize"), None),
            )
        s, c = settled, settled.classification
        span = (s.steps[-1].ended_at - s.steps[0].started_at).total_seconds() * 1000
        calls = sum(1 for st in s.steps if st.kind == "model" and st.outcome == "ok")
        return cls(
            s.ticket_id,
            "awaiting_review",
            s.route or "-",
            c and c.category,
            c and c.confidence,
            s.cost_usd,
            span,
            len(s.steps),
            calls,
            "; ".join(x for x in (",".join(s.review_reasons), again) if x),
            "human",  # counted only when the finished runs show the ladder is on
        )

    def cells(self) -> list[str]:
        """The row's cells under COLUMNS, escaped (ids and notes come from the tickets)."""
        conf = f"{self.confidence:.2f}" if self.confidence is not None else "-"
        return [
            safe_text(self.ticket_id),
            self.outcome,
            safe_text(self.route),
            safe_text(self.category or "-"),
            conf,
            f"{self.cost_usd:.6f}",
            f"{self.latency_ms:.0f}ms",
            str(self.steps),
            safe_text(self.note, NOTE_CHARS),
        ]


async def run_batch(
    client: Client,
    settings: Settings,
    tickets: list[dict],
    concurrency: int = 16,
    progress: Progress | None = None,
) -> list[Row]:
    store = Store(settings.store_url)
    store.create_schema()
    gate = asyncio.Semaphore(concurrency)

    async def one(raw: dict) -> Row:
        async with gate:
            row = await settle_one(raw)
        if progress is not None:
            progress.advance(row.outcome)
        return row

    async def settle_one(raw: dict) -> Row:
        sub = await submit(client, settings, store, raw)
        if sub.handle is None or (sub.earlier and sub.earlier.failed):
            return Row.of(sub, None)
        try:
            return Row.of(sub, await wait_settled(sub.handle))
        except WorkflowFailureError:  # a bug: the run failed (aiflow retry, once fixed)
            return Row.of(sub, None)
        except NotSettling as err:
            note = f"not followed: {err}; see aiflow status {sub.ticket_id}"
            return Row(sub.ticket_id, "unknown", note=note)

    try:
        return await asyncio.gather(*(one(raw) for raw in tickets))
    finally:
        store.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(rows: list[Row], wall_s: float) -> str:
    outcomes = Counter(r.outcome for r in rows)
    without_model = sum(1 for r in rows if r.outcome in ("closed", "rejected"))
    with_model = [r.latency_ms for r in rows if r.model_calls]
    lines = [table(COLUMNS, [r.cells() for r in rows], right=NUMBERS), ""]
    lines.append(
        f"tickets {len(rows)}: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    )
    lines.append(
        f"model calls {sum(r.model_calls for r in rows)}; rules and intake settled "
        f"{without_model} tickets with none; cost ${sum(r.cost_usd for r in rows):.6f} "
        f"(offline model: simulated prices)"
    )
    tiers = Counter(r.tier for r in rows if r.tier)
    if set(tiers) - {"human"}:  # the layered config: finished runs name their tier
        lines.append(
            "settled by tier: "
            + ", ".join(f"{t} {tiers[t]}" for t in TIERS)
            + f" (cache hits {sum(tiers[t] for t in ('exact', 'semantic'))}; "
            "small: the cheaper model was good enough; human: a reviewer decides)"
        )
    if with_model:
        lines.append(
            f"latency of runs that called the model: p50 {_pct(with_model, 0.5):.0f} ms, "
            f"p95 {_pct(with_model, 0.95):.0f} ms; batch wall time {wall_s:.1f} s"
        )
    return "\n".join(lines)


def payload_line(settings: Settings) -> str:
    """Whether this deployment's Temporal payloads are encrypted, said plainly."""
    keyring = settings.keyring()
    if keyring is None:
        return f"Payloads: {UNENCRYPTED_NOTICE}"
    return (
        f"Payloads: encrypted (AES-256-GCM, key {keyring.active}); decoded by `aiflow codec serve`"
    )


def where_to_look(settings: Settings, rows: list[Row], cluster: str | None = None) -> str:
    """What to open next. `cluster`: the configured Temporal address, when the demo ran
    there rather than on the embedded dev server."""
    waiting = [r.ticket_id for r in rows if r.outcome == "awaiting_review"]
    ui = f"the Web UI of {cluster}" if cluster else devserver.ui_url(settings)
    text = [
        "",
        f"Temporal Web UI: {ui}  (filter: AiflowNeedsReview = true)",
        f"Store: {settings.store_url}",
        payload_line(settings),
    ]
    if waiting:
        example = waiting[0]
        text += [
            f"{len(waiting)} ticket(s) wait for a reviewer: {', '.join(waiting)}",
            "With a worker running (`aiflow dev` in another terminal), look and decide:",
            "  aiflow review list",
            f"  aiflow review show {example}",
            f"  aiflow review approve {example} --reviewer you@example.com",
            f"  aiflow review edit {example} --reviewer you@example.com --reply 'Hello ...'",
            f"  aiflow review reject {example} --reviewer you@example.com --reason duplicate",
            "or queue a decision now, applied when a worker starts: add --signal",
        ]
    if not cluster:
        text.append("Stop the dev server with `aiflow dev stop`.")
    return "\n".join(text)


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--tickets",
        type=Path,
        default=None,
        help="JSONL file of tickets (default: data/tickets/demo.jsonl)",
    )
    p.add_argument(
        "--concurrency", type=at_least(1), default=16, help="items in flight (default 16)"
    )
    p.add_argument(
        "--workflow",
        default="tickets",
        help="the workflow whose demo items run (aiflow workflows lists them; default tickets)",
    )
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or load_settings()
    # Everything a user can get wrong is checked before a server is started or reached.
    if args.workflow != "tickets":
        spec = _spec(settings, args.workflow)
        items = demo_items(spec, settings)
        what, total = f"{spec.name} items", len(items)
    else:
        tickets = read_tickets(args.tickets or settings.data_dir / "tickets" / "demo.jsonl")
        what, total = "tickets", len(tickets)
    cluster = None
    if client is None:
        configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
        if cluster := configured_address():  # TEMPORAL_ADDRESS or a profile: as is
            client = await connect(settings)
        else:
            if devserver.ensure(settings):
                print(
                    f"started the Temporal dev server ({devserver.ui_url(settings)}); "
                    f"state in {settings.state_dir / 'temporal.db'}"
                )
            client = await devserver.connect_when_ready(settings)
    progress = Progress(PROG, what, total)
    if args.workflow != "tickets":
        job = run_demo(client, settings, spec, items, args.concurrency, progress)
    else:
        job = run_batch(client, settings, tickets, args.concurrency, progress)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_workers(settings, client, stop))
    t0 = time.perf_counter()
    try:
        async with progress:
            batch = asyncio.create_task(job)
            # A worker that dies (e.g. search attributes missing) must end the demo, not hang it.
            await asyncio.wait({batch, worker}, return_when=asyncio.FIRST_COMPLETED)
            if not batch.done():
                batch.cancel()
                await worker  # raises the worker's error
                raise CliError("the worker stopped before the batch finished", EXIT_INVALID)
        rows = batch.result()
        wall = time.perf_counter() - t0
    except SearchAttributesMissing as err:
        raise CliError(str(err), EXIT_INVALID) from None
    finally:
        stop.set()
        await asyncio.wait({worker})  # an error it stopped with was raised above
    if worker.exception() is not None:  # it failed while stopping
        raise worker.exception()
    if args.workflow != "tickets":
        print(rows)
        print(f"Web UI: {devserver.ui_url(settings)}; reviews: aiflow review list")
        return 0
    print(report(rows, wall))
    print(where_to_look(settings, rows, cluster))
    return 0


def _spec(settings: Settings, name: str) -> WorkflowSpec:
    try:
        specs = workflow_specs(settings)
    except ValueError as err:  # a broken AIFLOW_WORKFLOW_MODULES entry
        raise CliError(str(err)) from None
    spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        known = ", ".join(s.name for s in specs)
        raise CliError(f"unknown workflow {safe_text(name)!r} (known: {known})")
    return spec


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
