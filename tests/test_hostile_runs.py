"""Every hostile variant of a valid ticket (tests/hostile.py) through the real client path
and the real workflow on a Temporal server: the client refuses what is over a cap or not a
ticket (one line, nothing sent), intake rejects what is invalid, adversarial content
reaches a person, and nothing fails or auto-resolves with more confidence than the clean
ticket."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from activities.store import Store
from contracts import Outcome, RunState, TriageResult
from starter.submit import submit, wait_settled
from tests.conftest import running_worker
from tests.hostile import hostile_variants

CONCURRENCY = 16


def _settled_as(settled: TriageResult | RunState) -> tuple[str, float | None, list[str]]:
    if isinstance(settled, TriageResult):
        return settled.outcome.value, settled.confidence, settled.reasons
    c = settled.classification
    return "review", c.confidence if c else None, settled.review_reasons


@pytest.mark.timeout(600)
async def test_every_hostile_variant_gets_a_clear_rejection_or_a_safe_outcome(env, settings):
    tag = uuid.uuid4().hex[:6]
    variants = hostile_variants()
    clean = variants[0].ticket  # hostile_variants() starts from the demo ticket as it is
    store = Store(settings.store_url)
    store.create_schema()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int, variant) -> tuple[str, float | None, list[str], str | None]:
        raw = dict(variant.ticket)
        if not variant.name.startswith("ticket_id."):
            raw["ticket_id"] = f"H{tag}-{i}"
        async with gate:
            sub = await submit(env.client, settings, store, raw, strict_id=True)  # as the CLI
            if sub.error is not None:
                return "client_reject", None, [], sub.error
            settled = await wait_settled(sub.handle, poll=0.2)
            if isinstance(settled, RunState):
                await sub.handle.terminate("test done")
            return (*_settled_as(settled), None)

    try:
        async with running_worker(env.client, settings):
            base = await one(-1, type(variants[0])("base", variants[0].ticket | {}, "safe"))
            seen = await asyncio.gather(*(one(i, v) for i, v in enumerate(variants)))
    finally:
        store.close()

    base_outcome, base_confidence, _, _ = base
    table: Counter[tuple[str, str]] = Counter()
    wrong = []
    for variant, (outcome, confidence, reasons, error) in zip(variants, seen, strict=True):
        table[(variant.expect, outcome)] += 1
        if outcome == Outcome.FAILED.value:
            wrong.append((variant.name, "failed"))
        if variant.expect == "client_reject":
            ok = outcome == "client_reject" and "\n" not in error and error.isprintable()
        elif variant.expect == "intake_reject":
            ok = outcome == Outcome.REJECTED.value
        elif variant.expect == "review":
            ok = outcome == "review" and "suspicious_content" in reasons
        else:  # safe: processed as a ticket, not flagged; same text, never more sure
            same_text = all(variant.ticket.get(f) == clean.get(f) for f in ("subject", "body"))
            ok = (
                outcome not in ("client_reject", Outcome.REJECTED.value)
                and "suspicious_content" not in reasons
                and not (
                    same_text
                    and outcome == Outcome.RESOLVED.value
                    and (confidence or 0) > (base_confidence or 0)
                )
            )
        if not ok:
            wrong.append((variant.name, outcome, error or reasons))
    print(f"\nbase: {base_outcome} at {base_confidence}; {len(variants)} variants")
    for (expect, outcome), n in sorted(table.items()):
        print(f"  {expect:<14} -> {outcome:<14} {n}")
    for w in wrong:
        print("WRONG", w)
    assert wrong == []
