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
from starter.items import reader_of
from starter.run import settled, start_item
from starter.terminal import safe_text
from workflows.registry import WorkflowSpec


def demo_files(spec: WorkflowSpec, settings: Settings) -> list[Path]:
    """The spec's demo input (`demo_input`: "module:function(state_dir) -> paths")."""
    if not spec.demo_input:
        raise ValueError(f"workflow {spec.name!r} has no demo input: use aiflow run")
    module, _, name = spec.demo_input.partition(":")
    return getattr(import_module(module), name)(settings.state_dir)


async def run_demo(
    client: Client, settings: Settings, spec: WorkflowSpec, concurrency: int = 16
) -> str:
    store = Store(settings.store_url)
    store.create_schema()
    items = [
        i for path in demo_files(spec, settings) for i in reader_of(spec)(path, store, settings)
    ]
    gate = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()

    async def one(item) -> tuple[str, str, str]:
        if item.error is not None:
            return item.where, "not started", item.error
        async with gate:
            note, handle, _ = await start_item(client, settings, spec, item, rerun=False)
            end = await settled(handle, poll=0.2)
        label = item.key if item.where.startswith(("line ", "item ")) else item.where
        return label, end, "" if note == "started" else "already processed: " + note

    try:
        rows = await asyncio.gather(*(one(i) for i in items))
    finally:
        store.close()
    wall = time.perf_counter() - t0
    width = max((len(w) for w, _, _ in rows), default=4)
    lines = [f"{'item':<{width}}  {'outcome':<40}  note"]
    lines += [f"{safe_text(w):<{width}}  {o:<40}  {safe_text(n, 120)}".rstrip() for w, o, n in rows]
    ends = Counter("awaiting review" if o.startswith("awaiting") else o for _, o, _ in rows)
    lines += [
        "",
        f"{spec.name} {len(rows)}: " + ", ".join(f"{k} {v}" for k, v in sorted(ends.items())),
        f"wall time {wall:.1f} s",
    ]
    return "\n".join(lines)
