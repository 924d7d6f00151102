"""`python -m bench.ladder`: the triage ladder (rules → exact cache → semantic cache → small
model → large model → human review) against the plain pipeline, on the seeded workload of
bench/ladder_workload.py, with aiflow's REAL workers on one embedded Temporal dev server.

Two configurations run in this process, one after the other, each with its own fresh
SQLite store and task queues (same other settings: offline provider, no simulated latency
unless --latency-ms):

  ladder    cache on (exact + semantic), cascade on (its offline small tiers; off when
            data/models.toml has no `offline-classify-small` yet: then said so)
  baseline  cache off, cascade off

The ladder runs the warm-up part first, then the held-out part; the baseline only the
held-out part (it has nothing to warm). A scripted reviewer answers every review from the
ground truth (`scripted_decision`), so every run finishes and reviewers' answers enter the
ladder's cache; the held-out figures describe what happened BEFORE a reviewer touched a
run (its category when it first waited for review, its model calls, what it proposed).

Figures (held-out part, ladder vs baseline): share settled without a large-model call,
category accuracy before review, wrongly auto-resolved items, replies carrying another
customer's data, share sent to review, cost per item resolved without review, p50
decision latency by the run's highest tier, throughput, and which tier settled each step.
The last line is the summary:

  ladder: share_without_large=<%> accuracy_delta=<points> wrong_auto=<n> leaked=<n> cost_ratio=<r>
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.answer_cache import AnswerCache
from activities.catalog import Catalog
from activities.logs import configure_logging
from activities.store import RunRow, Store
from bench.ladder_workload import Item, Workload, generate, leaked, scripted_decision
from contracts import Outcome, ReviewDecision, RunState, Stage, StepKind, TriageResult
from contracts.cache import TIERS
from settings import Settings
from starter import devserver
from starter.submit import submit
from workflows import search_attributes as sa
from workflows.search_attributes import ALL_KEYS
from workflows.triage import TriageWorkflow

SETTLE_TIMEOUT = 120.0  # s, per run: until it finishes or waits for review, and again after
POLL_SECONDS = 0.05  # how often the store is asked which runs wait for review
FALLBACK_QUERY_SECONDS = 2.0  # a run not flagged by then is asked itself (status query)
DEFAULT_CONCURRENCY = 20
SMALL_ALIASES = ("offline-classify-small", "offline-draft-small")
# The offline small tier's models; any other model that answers is the large tier.
SMALL_MODELS = frozenset({"offline-knn-lite-v1", "offline-template-lite-v1"})
MODEL_STEPS = ("classify", "draft")
RUN_TIERS = ("rules", "exact", "semantic", "small", "large", "human")
# Items resolved without a reviewer: auto-resolved, or closed by a rule (with its reply).
SETTLED_ALONE = (Outcome.RESOLVED, Outcome.CLOSED)


class SettleTimeout(TimeoutError):
    """A run did not finish (or reach its review) within SETTLE_TIMEOUT."""


class RunFailed(RuntimeError):
    """A run could not be started, failed, or waits for a review it does not show."""


@dataclass
class Run:
    """One finished run, with what it looked like before a reviewer touched it."""

    item: Item
    workflow_id: str
    result: TriageResult
    reviewed: bool
    pre_category: str | None  # the classification's category before any review
    proposed: str | None  # the reply shown to the reviewer (None: auto-resolved, or no draft)
    seconds: float  # wall time from start to result (reviewer round trip included)

    @property
    def replies(self) -> list[str]:
        """Every reply the run proposed or sent (a draft QA sent back to be rewritten is
        not seen outside the run's history)."""
        return [r for r in (self.proposed, self.result.reply) if r]


@dataclass
class Part:
    name: str
    runs: list[Run]
    seconds: float
    cache_rows: int | None = None  # trusted entries after the part (ladder only)
    cache_rows_all: int | None = None  # trusted or not


# --- settings ---------------------------------------------------------------------------


def cascade_available(data_dir: Path | None = None) -> bool:
    """Whether the catalogue has the offline small tiers the default cascade names."""
    s = Settings(_env_file=None, **({"data_dir": data_dir} if data_dir else {}))
    aliases = set(Catalog.load(s.catalog_path).aliases)
    return all(a in aliases for a in SMALL_ALIASES)


def small_models(settings: Settings) -> frozenset[str]:
    """The models behind the small aliases (when the catalogue has them), plus the known
    offline small tier."""
    catalog = Catalog.load(settings.catalog_path)
    found = {t.model for a in SMALL_ALIASES if a in catalog.aliases for t in catalog.chain(a)}
    return SMALL_MODELS | found


def config_settings(
    root: Path,
    name: str,
    *,
    ladder: bool,
    cascade: bool,
    latency_ms: float,
    min_similarity: float | None = None,
) -> Settings:
    """One configuration's settings: its own store and task queues."""
    tag = uuid.uuid4().hex[:8]
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return Settings(
        _env_file=None,
        state_dir=folder / "var",
        database_url=f"sqlite:///{folder / 'aiflow.db'}",
        orchestration_queue=f"bench-{name}-orch-{tag}",
        model_queue=f"bench-{name}-models-{tag}",
        shutdown_grace_seconds=5,
        offline_latency_ms=latency_ms,
        # min_similarity left out: data/cache/threshold.json's calibrated value
        cache=(
            {"enabled": True, "semantic": True}
            | ({"min_similarity": min_similarity} if min_similarity is not None else {})
            if ladder
            else {"enabled": False}
        ),
        # None: worker.py's defaults (the offline small tiers); {}: off
        cascade=None if (ladder and cascade) else {},
        # the workload is support traffic, no spam: both configurations without the spam
        # lane, so the ladder is measured against the same pipeline as before it existed
        spam_detection=False,
        log_level="WARNING",
    )


def describe_config(name: str, settings: Settings) -> str:
    """What the workers will pin into each run: the cache policy and the cascade."""
    from worker import cache_policy, cascade_for

    policy = cache_policy(settings)
    cascade = cascade_for(settings, Catalog.load(settings.catalog_path))
    cache = (
        "off"
        if not policy.enabled
        else f"exact{' + semantic' if policy.semantic else ''} "
        f"(min_similarity {policy.min_similarity}, hit_confidence {policy.hit_confidence})"
    )
    tiers = ", ".join(
        f"{step} {small}" + (f" (escalate under {m})" if m is not None else "")
        for step, (small, m) in sorted(cascade.items())
    )
    latency = f", model latency {settings.offline_latency_ms:g} ms" * bool(
        settings.offline_latency_ms
    )
    return f"{name}: cache {cache}; cascade {tiers or 'off'}{latency}"


# --- running ----------------------------------------------------------------------------


def _letters(n: int) -> str:
    """A random tag of letters only (no digit that an entity value could match)."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:n])


class ReviewWatch:
    """Which watched runs wait for a reviewer, read from the store the workers write (one
    SELECT per poll for all of them), so the harness does not query every run over and
    over: each query is a workflow task on the worker it measures. The status query
    confirms a run before its review is answered."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.waiting: dict[str, asyncio.Future[None]] = {}

    def wait(self, workflow_id: str) -> asyncio.Future[None]:
        fut = self.waiting[workflow_id] = asyncio.get_running_loop().create_future()
        return fut

    def forget(self, workflow_id: str) -> None:
        fut = self.waiting.pop(workflow_id, None)
        if fut is not None and not fut.done():
            fut.cancel()

    def _pending(self, ids: list[str]) -> list[str]:
        with Session(self.store.engine) as session:
            q = select(RunRow.workflow_id).where(
                RunRow.needs_review, col(RunRow.workflow_id).in_(ids)
            )
            return list(session.exec(q))

    async def run(self) -> None:
        while True:
            ids = [w for w, f in self.waiting.items() if not f.done()]
            if ids:
                for wid in await asyncio.to_thread(self._pending, ids):
                    fut = self.waiting.get(wid)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
            await asyncio.sleep(POLL_SECONDS)


async def _stage(handle: WorkflowHandle) -> str:
    try:
        state = await asyncio.wait_for(handle.query(TriageWorkflow.status), 5)
    except Exception as err:  # only for the message
        return f"unknown: {type(err).__name__}"
    wait = f", waiting for models: {state.model_wait}" if state.model_wait else ""
    return f"{state.stage.value}{wait}"


async def settle(handle: WorkflowHandle, watch: ReviewWatch) -> TriageResult | RunState:
    """The result once the run is done, or its state once it waits for a reviewer."""
    result = asyncio.ensure_future(handle.result())
    deadline = time.monotonic() + SETTLE_TIMEOUT
    try:
        while True:
            flagged = watch.wait(handle.id)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SettleTimeout(
                    f"run {handle.id} neither finished nor waited for review within "
                    f"{SETTLE_TIMEOUT:.0f} s (stage {await _stage(handle)}); overloaded "
                    "workers? try a lower --concurrency"
                )
            # the store flags a review; a slow status query is the safety net
            await asyncio.wait(
                {result, flagged},
                timeout=min(left, FALLBACK_QUERY_SECONDS),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if result.done():
                return result.result()
            state = await handle.query(TriageWorkflow.status)
            if state.stage == Stage.REVIEW and state.needs_review:
                return state
    finally:
        watch.forget(handle.id)
        result.cancel()


async def run_one(
    client: Client, settings: Settings, store: Store, watch: ReviewWatch, item: Item, suffix: str
) -> Run:
    """Start the item's run, answer its review with the scripted reviewer, return it."""
    raw = {**item.ticket, "ticket_id": f"{item.ticket['ticket_id']}.{suffix}"}
    started = time.perf_counter()
    sub = await submit(client, settings, store, raw)
    if sub.error or sub.duplicate or sub.handle is None:
        raise RunFailed(f"{raw['ticket_id']}: not started: {sub.error or sub.note}")
    handle = sub.handle
    try:
        settled = await settle(handle, watch)
    except WorkflowFailureError as err:
        raise RunFailed(f"run {handle.id} failed: {err.cause or err}") from err
    reviewed, pre_category, proposed = False, None, None
    if isinstance(settled, RunState):
        state = settled
        request = state.review
        if request is None:
            raise RunFailed(f"run {handle.id} waits for review but shows no request")
        reviewed = True
        pre_category = state.classification.category if state.classification else None
        proposed = request.proposal.reply
        decision = scripted_decision(request.model_dump(mode="json"), item)
        await handle.execute_update(
            TriageWorkflow.submit_review, ReviewDecision.model_validate(decision)
        )
        try:
            result = await asyncio.wait_for(handle.result(), SETTLE_TIMEOUT)
        except TimeoutError:
            raise SettleTimeout(
                f"run {handle.id} did not finish within {SETTLE_TIMEOUT:.0f} s of its review"
            ) from None
        except WorkflowFailureError as err:
            raise RunFailed(f"run {handle.id} failed after review: {err.cause or err}") from err
    else:
        result = settled
        pre_category = result.category
    return Run(
        item=item,
        workflow_id=handle.id,
        result=result,
        reviewed=reviewed,
        pre_category=pre_category,
        proposed=proposed,
        seconds=time.perf_counter() - started,
    )


async def run_part(
    client: Client,
    settings: Settings,
    name: str,
    items: list[Item],
    concurrency: int,
    suffix: str,
) -> Part:
    """Every item of a part through the running workers, at most `concurrency` at once."""
    store = Store(settings.store_url)
    store.create_schema()
    watch = ReviewWatch(store)
    watcher = asyncio.create_task(watch.run())
    gate = asyncio.Semaphore(concurrency)

    async def bounded(item: Item) -> Run:
        async with gate:
            return await run_one(client, settings, store, watch, item, suffix)

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(bounded(i)) for i in items]
    try:
        runs = await asyncio.gather(*tasks)
    finally:
        for t in (*tasks, watcher):
            t.cancel()
        await asyncio.gather(*tasks, watcher, return_exceptions=True)
        store.close()
    return Part(name, list(runs), time.perf_counter() - started)


def cache_counts(settings: Settings) -> tuple[int, int]:
    store = Store(settings.store_url)
    try:
        cache = AnswerCache(store)
        return len(cache.rows()), len(cache.rows(include_untrusted=True))
    finally:
        store.close()


async def run_config(
    client: Client,
    settings: Settings,
    parts: list[tuple[str, list[Item]]],
    concurrency: int,
    suffix: str,
) -> list[Part]:
    """The configuration's workers, running its parts in order."""
    from worker import run_workers

    stop = asyncio.Event()
    workers = asyncio.create_task(run_workers(settings, client, stop))
    out: list[Part] = []
    try:
        for name, items in parts:
            if workers.done():  # the workers could not start: say why
                workers.result()
            part = await run_part(client, settings, name, items, concurrency, suffix)
            if settings.cache.enabled:
                part.cache_rows, part.cache_rows_all = cache_counts(settings)
            out.append(part)
    finally:
        stop.set()
        await workers
    return out


# --- figures ----------------------------------------------------------------------------


def step_tier(result: TriageResult, step: str, small: frozenset[str]) -> str | None:
    """The tier that settled `step`: a cache hit, else the model that answered (small or
    large), else None (no answer: the step failed or never ran)."""
    recs = [r for r in result.steps if r.step == step]
    for r in recs:
        if r.kind == StepKind.CACHE and r.outcome.startswith("hit:"):
            return r.outcome.split(":", 1)[1]
    ok = [r for r in recs if r.kind == StepKind.MODEL and r.outcome == "ok"]
    if any(r.model not in small for r in ok):
        return "large"
    return "small" if ok else None


def large_calls(result: TriageResult, small: frozenset[str]) -> int:
    return sum(
        1
        for r in result.steps
        if r.kind == StepKind.MODEL and r.outcome == "ok" and r.model not in small
    )


def run_tier(run: Run, small: frozenset[str]) -> str:
    """The highest tier of the run: human when reviewed, rules when a rule closed it."""
    if run.reviewed:
        return "human"
    if run.result.outcome == Outcome.CLOSED:
        return "rules"
    used = [step_tier(run.result, s, small) for s in MODEL_STEPS]
    ranks = [TIERS.index(t) for t in used if t in TIERS]
    return TIERS[max(ranks)] if ranks else "rules"


def decision_ms(result: TriageResult) -> float:
    """The run's latency without the human wait (the finalize step's own figure)."""
    for r in result.steps:
        if r.step == "finalize" and "decision_latency_ms" in r.details:
            return float(r.details["decision_latency_ms"])
    waited = sum(r.latency_ms for r in result.steps if r.kind == StepKind.HUMAN)
    return result.latency_ms - waited


def figures(part: Part, workload: Workload, small: frozenset[str]) -> dict[str, Any]:
    runs = part.runs
    n = len(runs)
    alone = [r for r in runs if r.result.outcome in SETTLED_ALONE and not r.reviewed]
    cost = sum(r.result.cost_usd for r in runs)
    leaks = {
        r.workflow_id: found
        for r in runs
        if (found := sorted({v for reply in r.replies for v in leaked(reply, r.item, workload)}))
    }
    served = [r for r in runs if step_tier(r.result, "classify", small) in ("exact", "semantic")]
    by_tier: dict[str, list[float]] = {}
    for r in runs:
        by_tier.setdefault(run_tier(r, small), []).append(decision_ms(r.result))
    steps: dict[str, Counter] = {}
    cache: dict[str, Counter] = {}
    for s in MODEL_STEPS:
        steps[s] = Counter(step_tier(r.result, s, small) or "none" for r in runs)
        cache[s] = Counter(
            x.outcome for r in runs for x in r.result.steps if x.step == s and x.kind == "cache"
        )
    escalated = Counter(
        x.step
        for r in runs
        for x in r.result.steps
        if x.kind == StepKind.CODE and x.outcome == "escalated"
    )
    wrong_auto = {
        r.workflow_id: (
            f"{r.result.category} (truth {r.item.category}), classify by "
            f"{step_tier(r.result, 'classify', small)} at confidence {r.result.confidence}"
        )
        for r in runs
        if r.result.outcome == Outcome.RESOLVED and r.result.category != r.item.category
    }
    return {
        "items": n,
        "without_large": sum(large_calls(r.result, small) == 0 for r in runs),
        "correct": sum(r.pre_category == r.item.category for r in runs),
        "wrong_auto": wrong_auto,
        "leaked": leaks,
        "reviewed": sum(r.reviewed for r in runs),
        "outcomes": Counter(r.result.outcome.value for r in runs),
        "resolved_alone": len(alone),
        "cost_usd": cost,
        "cost_per_resolved": cost / len(alone) if alone else float("inf"),
        "model_calls": sum(r.result.model_calls for r in runs),
        "large_calls": sum(large_calls(r.result, small) for r in runs),
        "p50_ms": {t: statistics.median(v) for t, v in by_tier.items()},
        "tier_runs": {t: len(v) for t, v in by_tier.items()},
        "seconds": part.seconds,
        "throughput": n / part.seconds if part.seconds else 0.0,
        "step_tiers": steps,
        "cache_outcomes": cache,
        "escalated": escalated,
        "hits": sum(c for s in MODEL_STEPS for o, c in cache[s].items() if o.startswith("hit:")),
        # classifications served from the cache, and how many of them were right
        "served_classify": len(served),
        "served_classify_right": sum(r.pre_category == r.item.category for r in served),
        "tiers": {r.workflow_id: run_tier(r, small) for r in runs},
        "workflow_ids": [r.workflow_id for r in runs],
    }


async def tier_attribute_mismatches(
    client: Client, tiers: dict[str, str]
) -> list[tuple[str, str, str | None]]:
    """Runs whose AiflowTier search attribute (what the workflow says settled it) is not
    the tier read from its step records: (workflow id, from the steps, the attribute)."""

    async def one(wid: str) -> tuple[str, str, str | None]:
        desc = await client.get_workflow_handle(wid).describe()
        return wid, tiers[wid], desc.typed_search_attributes.get(sa.TIER)

    gate = asyncio.Semaphore(20)

    async def bounded(wid: str) -> tuple[str, str, str | None]:
        async with gate:
            return await one(wid)

    found = await asyncio.gather(*(bounded(w) for w in tiers))
    return [f for f in found if f[1] != f[2]]


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f} %" if n else "-"


def _usd(v: float) -> str:
    return "-" if v == float("inf") else f"${v:.8f}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def table(
    warm: Part | None, ladder: dict[str, Any], base: dict[str, Any], notes: list[str]
) -> list[str]:
    out: list[str] = [*notes]
    if warm is not None:
        reviews = sum(r.reviewed for r in warm.runs)
        auto = sum(r.result.outcome == Outcome.RESOLVED for r in warm.runs)
        seen = Counter(
            x.outcome
            for r in warm.runs
            for x in r.result.steps
            if x.kind == StepKind.CACHE and x.outcome != "miss"
        )
        out.append(
            f"warm-up (ladder): {len(warm.runs)} items in {warm.seconds:.1f} s, "
            f"{reviews} reviews answered, {auto} auto-resolved, cache lookups other than a "
            f"miss: {', '.join(f'{o} {c}' for o, c in sorted(seen.items())) or 'none'}; "
            f"cache after warm-up: {warm.cache_rows} trusted entries "
            f"({warm.cache_rows_all} rows in all)"
        )
    n = ladder["items"]
    out.append(f"held-out: {n} items")
    rows: list[tuple[str, str, str]] = []

    def row(label: str, key: Any) -> None:
        rows.append((label, key(ladder), key(base)))

    row("settled without a large-model call", lambda f: _pct(f["without_large"], f["items"]))
    row("category accuracy (before review)", lambda f: _pct(f["correct"], f["items"]))
    row("wrongly auto-resolved", lambda f: str(len(f["wrong_auto"])))
    row("replies with another customer's data", lambda f: str(len(f["leaked"])))
    row("sent to review", lambda f: _pct(f["reviewed"], f["items"]))
    row("resolved without review", lambda f: str(f["resolved_alone"]))
    row("model calls (large tier)", lambda f: f"{f['model_calls']} ({f['large_calls']})")
    row("total cost", lambda f: f"${f['cost_usd']:.6f}")
    row("cost per resolved item", lambda f: _usd(f["cost_per_resolved"]))
    for t in RUN_TIERS:
        row(
            f"p50 decision latency: {t}",
            lambda f, t=t: (
                f"{_ms(f['p50_ms'].get(t))} (n={f['tier_runs'][t]})" if t in f["tier_runs"] else "-"
            ),
        )
    row("throughput", lambda f: f"{f['throughput']:.1f} items/s ({f['seconds']:.1f} s)")
    for s in MODEL_STEPS:
        for t in ("exact", "semantic", "small", "large", "none"):
            row(f"{s} settled by {t}", lambda f, s=s, t=t: _pct(f["step_tiers"][s][t], f["items"]))
    row(
        "cache-served classifications right",
        lambda f: (
            f"{f['served_classify_right']}/{f['served_classify']}" if f["served_classify"] else "-"
        ),
    )
    row(
        "escalations small→large",
        lambda f: ", ".join(f"{s} {c}" for s, c in sorted(f["escalated"].items())) or "-",
    )
    width = max(len(r[0]) for r in rows)
    lw = max(len("ladder"), *(len(r[1]) for r in rows))
    out.append(f"{'':{width}}  {'ladder':>{lw}}  baseline")
    out += [f"{label:{width}}  {a:>{lw}}  {b}" for label, a, b in rows]
    for s in MODEL_STEPS:
        found = ladder["cache_outcomes"][s]
        shown = ", ".join(f"{o} {c}" for o, c in sorted(found.items())) or "-"
        out.append(f"ladder {s} cache outcomes: {shown}")
    for name, f in (("ladder", ladder), ("baseline", base)):
        for wid, why in f["wrong_auto"].items():
            out.append(f"{name}: wrongly auto-resolved: {wid}: {why}")
        for wid, values in list(f["leaked"].items())[:10]:
            out.append(f"{name}: {wid} replied with another customer's {values}")
    return out


def summary_line(ladder: dict[str, Any], base: dict[str, Any]) -> str:
    n = ladder["items"]
    share = 100 * ladder["without_large"] / n if n else 0.0
    delta = 100 * (ladder["correct"] / n - base["correct"] / base["items"]) if n else 0.0
    a, b = ladder["cost_per_resolved"], base["cost_per_resolved"]
    ratio = a / b if b not in (0.0, float("inf")) else float("nan")
    return (
        f"ladder: share_without_large={share:.1f} accuracy_delta={delta:+.1f} "
        f"wrong_auto={len(ladder['wrong_auto'])} leaked={len(ladder['leaked'])} "
        f"cost_ratio={ratio:.3f}"
    )


# --- entry points -----------------------------------------------------------------------


async def run_bench(client: Client, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Both configurations on `client`'s server; the figures and the printed lines."""
    workload = generate(args.seed, args.warmup, args.heldout)
    notes: list[str] = []
    cascade = not args.no_cascade and cascade_available()
    if not cascade:
        why = (
            "--no-cascade"
            if args.no_cascade
            else "data/models.toml has no " + " / ".join(SMALL_ALIASES)
        )
        notes.append(f"note: cascade off in the ladder config too ({why}): cascade={{}}")
    ladder_s = config_settings(
        root,
        "ladder",
        ladder=True,
        cascade=cascade,
        latency_ms=args.latency_ms,
        min_similarity=args.min_similarity,
    )
    base_s = config_settings(
        root, "baseline", ladder=False, cascade=False, latency_ms=args.latency_ms
    )
    small = small_models(ladder_s)
    notes.append(describe_config("ladder", ladder_s))
    notes.append(describe_config("baseline", base_s))
    tag = _letters(6)
    started = time.perf_counter()
    warm, held = await run_config(
        client,
        ladder_s,
        [("warmup", workload.warmup), ("heldout", workload.heldout)],
        args.concurrency,
        f"l{tag}",
    )
    (base_held,) = await run_config(
        client, base_s, [("heldout", workload.heldout)], args.concurrency, f"b{tag}"
    )
    seconds = time.perf_counter() - started
    lf, bf = figures(held, workload, small), figures(base_held, workload, small)
    # the workflow publishes its own view of the highest tier: it must agree
    lf["tier_mismatches"] = await tier_attribute_mismatches(client, lf["tiers"])
    lines = table(warm, lf, bf, notes)
    for wid, ours, theirs in lf["tier_mismatches"][:10]:
        lines.append(f"ladder: {wid}: steps say tier {ours}, AiflowTier says {theirs}")
    if lf["tier_mismatches"]:
        lines.append(
            f"ladder: AiflowTier disagrees with the steps on {len(lf['tier_mismatches'])} runs"
        )
    lines.append(f"wall time: {seconds:.1f} s (seed {args.seed}, concurrency {args.concurrency})")
    last = summary_line(lf, bf)
    lines.append(last)
    return {
        "lines": lines,
        "last": last,
        "ladder": lf,
        "baseline": bf,
        "warmup": {
            "items": len(warm.runs),
            "reviewed": sum(r.reviewed for r in warm.runs),
            "cache_rows": warm.cache_rows,
            "workflow_ids": [r.workflow_id for r in warm.runs],
        },
        "cascade": cascade,
        "seconds": seconds,
        "runs": {"warmup": warm.runs, "heldout": held.runs, "baseline": base_held.runs},
        "settings": {"ladder": ladder_s, "baseline": base_s},
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ladder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--warmup", type=int, default=400, help="warm-up items (default 400)")
    p.add_argument("--heldout", type=int, default=400, help="held-out items (default 400)")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="runs in flight")
    p.add_argument("--latency-ms", type=float, default=0.0, help="simulated model latency")
    p.add_argument("--no-cascade", action="store_true", help="the ladder without small tiers")
    p.add_argument(
        "--min-similarity",
        type=float,
        help="the semantic cache's threshold (default: data/cache/threshold.json)",
    )
    p.add_argument("--quick", action="store_true", help="a quick check: --warmup 60 --heldout 40")
    return p


async def amain(argv: list[str] | None = None, client: Client | None = None) -> dict[str, Any]:
    """Parse, run, print; on `client`'s server, else on an embedded dev server of its own."""
    args = parser().parse_args(argv)
    if args.quick:
        args.warmup, args.heldout = 60, 40
    if args.concurrency < 1:
        raise SystemExit("--concurrency must be >= 1")
    if client is None:  # a command of its own; in a test, the session's logging stays
        configure_logging("WARNING", "console")
    root = Path(tempfile.mkdtemp(prefix="aiflow-ladder-"))
    env = None
    try:
        if client is None:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=devserver.temporal_binary(),
                search_attributes=ALL_KEYS,
                data_converter=pydantic_data_converter,
                dev_server_log_level="error",
            )
            client = env.client
        report = await run_bench(client, args, root)
    finally:
        if env is not None:
            await env.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(report["lines"]), flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    try:
        asyncio.run(amain(argv))
    except (SettleTimeout, RunFailed) as err:
        print(f"python -m bench.ladder: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
