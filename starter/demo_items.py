"""`aiflow demo --workflow NAME`: a workflow's bundled demo items through the real stack,
one line per item and the totals (the ticket demo is starter/demo.py). Items already
processed are reported from their recorded result, not processed again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from importlib import import_module
from pathlib import Path

from temporalio.client import Client

from activities.store import Store
from settings import Settings
from starter.items import ItemToStart, reader_of
from starter.run import settled, start_item
from starter.tables import table
from starter.terminal import CliError, Progress, safe_text
from workflows.registry import WorkflowSpec


def demo_files(spec: WorkflowSpec, settings: Settings) -> list[Path]:
    """The spec's demo input (`demo_input`: "module:function(state_dir) -> paths")."""
    if not spec.demo_input:
        raise CliError(f"workflow {spec.name!r} has no demo input: use aiflow run")
    module, _, name = spec.demo_input.partition(":")
    return getattr(import_module(module), name)(settings.state_dir)


def demo_items(spec: WorkflowSpec, settings: Settings) -> list[ItemToStart]:
    """The spec's demo items, read (and checked) before anything is started."""
    store = Store(settings.store_url)
    store.create_schema()
    try:
        return [
            i for path in demo_files(spec, settings) for i in reader_of(spec)(path, store, settings)
        ]
    finally:
        store.close()


async def run_demo(
    client: Client,
    settings: Settings,
    spec: WorkflowSpec,
    items: list[ItemToStart],
    concurrency: int = 16,
    progress: Progress | None = None,
) -> str:
    gate = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()

    async def one(item: ItemToStart) -> tuple[str, str, str]:
        if item.error is not None:
            row = item.where, "not started", item.error
        else:
            async with gate:
                note, handle, _ = await start_item(client, settings, spec, item, rerun=False)
                end = await settled(handle, poll=0.2)
            label = item.key if item.where.startswith(("line ", "item ")) else item.where
            row = label, end, "" if note == "started" else "already processed: " + note
        if progress is not None:
            progress.advance("awaiting review" if row[1].startswith("awaiting") else row[1])
        return row

    rows = await asyncio.gather(*(one(i) for i in items))
    wall = time.perf_counter() - t0
    cells = [(safe_text(w), safe_text(o, 120), safe_text(n, 120)) for w, o, n in rows]
    ends = Counter("awaiting review" if o.startswith("awaiting") else o for _, o, _ in rows)
    lines = [
        table(("item", "outcome", "note"), cells),
        "",
        f"{spec.name} {len(rows)}: " + ", ".join(f"{k} {v}" for k, v in sorted(ends.items())),
        f"wall time {wall:.1f} s",
    ]
    return "\n".join(lines)
