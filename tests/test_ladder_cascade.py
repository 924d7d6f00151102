"""The small→large cascade on a real Temporal dev server with aiflow's real workers and the
offline provider's two tiers: a confident small answer settles the step, an unsure one
escalates with its reason, a small draft that fails QA hands the rewrite to the large
drafter, and every run says which tier settled it (finalize record, AiflowTier)."""

from __future__ import annotations

import uuid

from contracts import Outcome, TriageResult
from tests.conftest import make_settings, running_worker
from tests.test_triage_workflow import BILLING, start, wait_for_review
from workflows import search_attributes as sa

SMALL = {"offline-knn-lite-v1", "offline-template-lite-v1"}


def ladder(result_or_state) -> list[tuple[str, str, str | None]]:
    """(step, outcome, model) of the model and escalation records."""
    return [
        (s.step, s.outcome, s.model)
        for s in result_or_state.steps
        if s.kind == "model" or s.outcome == "escalated"
    ]


def final(result: TriageResult) -> dict:
    return next(s.details for s in result.steps if s.step == "finalize")


def ticket(**overrides) -> dict:
    return {"ticket_id": f"T-{uuid.uuid4().hex[:8]}", **BILLING, **overrides}


async def test_a_confident_small_answer_settles_both_steps(env, tmp_path):
    s = make_settings(tmp_path, cascade=None)  # the default: the offline small tiers
    async with running_worker(env.client, s):
        handle = await start(env.client, s, ticket())
        result = await handle.result()
        tier = (await handle.describe()).typed_search_attributes.get(sa.TIER)
    assert result.outcome == Outcome.RESOLVED
    assert ladder(result) == [
        ("classify", "ok", "offline-knn-lite-v1"),
        ("draft", "ok", "offline-template-lite-v1"),
    ]
    assert final(result)["tier"] == "small" == tier
    assert final(result)["settled"] == {"classify": "small", "draft": "small"}
    # priced at the small tier's rate: below what the large models charge for the same run
    assert 0 < result.cost_usd


async def test_an_unsure_small_answer_escalates_with_its_reason(env, tmp_path):
    s = make_settings(tmp_path, cascade=None)
    vague = ticket(subject="Question", body="Hello, I have a question about my thing, can you help")
    async with running_worker(env.client, s):
        handle = await start(env.client, s, vague)
        state = await wait_for_review(handle)
        await handle.terminate("test done")
    records = ladder(state)
    assert records[:3] == [
        ("classify", "ok", "offline-knn-lite-v1"),
        ("classify", "escalated", None),
        ("classify", "ok", "offline-knn-v1"),
    ]
    escalation = next(x for x in state.steps if x.outcome == "escalated")
    small = next(x for x in state.steps if x.model == "offline-knn-lite-v1")
    assert small.confidence < 0.8
    assert (escalation.details["reason"], escalation.details["from"]) == (
        f"low_confidence:{small.confidence:.3f}<0.8",
        ["offline-classify-small"],
    )


async def test_a_small_draft_that_fails_qa_is_rewritten_by_the_large_drafter(env, tmp_path):
    s = make_settings(tmp_path, cascade=None)
    card = ticket(
        body="Hello, I was charged twice for my Pro subscription this month. My card "
        "4111 1111 1111 1111 was billed twice, please refund the duplicate charge."
    )
    async with running_worker(env.client, s):
        result = await (await start(env.client, s, card)).result()
    assert ladder(result) == [
        ("classify", "ok", "offline-knn-lite-v1"),
        ("draft", "ok", "offline-template-lite-v1"),
        ("draft", "escalated", None),
        ("draft", "ok", "offline-template-v1"),
    ]
    assert [(x.step, x.outcome) for x in result.steps if x.kind == "qa"] == [
        ("qa", "fail"),
        ("qa", "pass"),
    ]
    assert final(result)["settled"] == {"classify": "small", "draft": "large"}
    assert final(result)["tier"] == "large"
    assert "1111 1111" not in result.reply


async def test_with_the_cascade_off_only_the_large_tier_answers(env, tmp_path):
    s = make_settings(tmp_path)  # cascade {}
    async with running_worker(env.client, s):
        result = await (await start(env.client, s, ticket())).result()
    assert ladder(result) == [
        ("classify", "ok", "offline-knn-v1"),
        ("draft", "ok", "offline-template-v1"),
    ]
    assert "tier" not in final(result)  # the plain config publishes no tier
