"""The cache tier on a real Temporal dev server with aiflow's real workers: a reviewer's
answer enters the cache, the same question from another customer is served from it with
that customer's values, a correction replaces it, a rejection evicts it, and a poisoned or
stale entry is never served."""

from __future__ import annotations

import shutil
import uuid

import pytest
from sqlmodel import Session

from activities.answer_cache import AnswerCache, CacheRow
from activities.store import Store
from contracts import Outcome, ReviewAction, ReviewDecision, TriageResult
from contracts.cache import CachePolicy
from tests.conftest import ROOT, make_settings, running_worker
from tests.test_triage_workflow import start, wait_for_review
from workflows.triage import TriageWorkflow

QUESTION = {
    "subject": "Where is my order {order}?",
    "body": "Hello, I ordered on 2026-11-02 and my order {order} has still not arrived. "
    "Can you tell me where it is? Thanks, {name}",
    "channel": "email",
    "customer_tier": "pro",
}


def asking(name: str, order: str, **overrides) -> dict:
    first = name.split()[0].lower()
    return {
        "ticket_id": f"T-{uuid.uuid4().hex[:8]}",
        "subject": QUESTION["subject"].format(order=order),
        "body": QUESTION["body"].format(order=order, name=name),
        "customer_email": f"{first}@example.com",
        "customer_name": name,
        "channel": QUESTION["channel"],
        "customer_tier": QUESTION["customer_tier"],
        **overrides,
    }


def cache_steps(result: TriageResult) -> list[tuple[str, str]]:
    return [(s.step, s.outcome) for s in result.steps if s.kind == "cache"]


@pytest.fixture(params=["sqlite", "postgresql"])
def ladder_settings(request, tmp_path):
    """Every test runs on both stores. Review everything but a cache hit (confidence 1.0
    over a 0.99 bar), so each run's path is decided by the cache alone."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("fresh_pg_url")
    return make_settings(
        tmp_path,
        **({"database_url": url} if url else {}),
        auto_resolve_confidence=0.99,
        cache={"enabled": True, "semantic": False, "hit_confidence": 1.0},
    )


async def review(handle, action: ReviewAction, **fields) -> TriageResult:
    await wait_for_review(handle)
    await handle.execute_update(
        TriageWorkflow.submit_review, ReviewDecision(action=action, reviewer="ana", **fields)
    )
    return await handle.result()


def rows(settings) -> list[CacheRow]:
    store = Store(settings.store_url)
    try:
        return AnswerCache(store).rows(include_untrusted=True)
    finally:
        store.close()


async def test_an_approved_answer_is_served_to_the_next_customer_with_their_values(
    env, ladder_settings
):
    s = ladder_settings
    async with running_worker(env.client, s):
        first = await start(env.client, s, asking("Anna Berg", "#48213"))
        approved = await review(first, ReviewAction.APPROVE)
        second = await start(env.client, s, asking("Bob Stone", "#55501"))
        served = await second.result()
    assert approved.outcome == Outcome.APPROVED
    assert cache_steps(approved) == [("classify", "miss"), ("draft", "miss")]
    assert "Hello Anna Berg," in approved.reply and "the reference 48213 " in approved.reply
    entries = rows(s)
    assert sorted((r.step, r.trust, r.trusted, r.approved_by) for r in entries) == [
        ("classify", "human", True, "reviewer:ana"),
        ("draft", "human", True, "reviewer:ana"),
    ]
    draft_entry = next(r for r in entries if r.step == "draft")
    assert "Anna" not in draft_entry.output["reply"]
    assert "48213" not in draft_entry.output["reply"]
    assert "Hello {{name}}," in draft_entry.output["reply"]
    assert "the reference {{order_bare}} " in draft_entry.output["reply"]

    assert served.outcome == Outcome.RESOLVED
    assert cache_steps(served) == [("classify", "hit:exact"), ("draft", "hit:exact")]
    assert served.model_calls == 0 and served.cost_usd == 0.0
    assert served.reply == approved.reply.replace("Anna Berg", "Bob Stone").replace(
        "48213", "55501"
    ).replace(approved.ticket_id, served.ticket_id)
    assert (served.category, served.confidence) == (approved.category, 1.0)
    hit = next(x for x in served.steps if x.outcome == "hit:exact")
    assert hit.details["source_workflow_id"] == first.id
    assert hit.details["saved_usd"] > 0
    assert {r.step: r.hit_count for r in rows(s)} == {"classify": 1, "draft": 1}


async def test_a_correction_replaces_the_entry_and_a_rejection_evicts_it(env, ladder_settings):
    s = ladder_settings
    async with running_worker(env.client, s):
        first = await start(env.client, s, asking("Anna Berg", "#48213"))
        await review(first, ReviewAction.APPROVE)
        # a reviewer corrects a served answer: the corrected one is what is served next
        s2 = s.model_copy(update={"auto_resolve_confidence": 1.01})  # hits go to review too
        corrected_reply = (
            "Hello Carla Diaz,\n\nYour order #60001 left our warehouse yesterday; tracking "
            "follows by e-mail.\n\nBest regards,\nThe support team"
        )
    async with running_worker(env.client, s2):
        second = await start(env.client, s2, asking("Carla Diaz", "#60001"))
        edited = await review(second, ReviewAction.EDIT, reply=corrected_reply)
        third = await start(env.client, s2, asking("Dan Eve", "#70002"))
        state = await wait_for_review(third)
        assert state.draft.reply == corrected_reply.replace("Carla Diaz", "Dan Eve").replace(
            "#60001", "#70002"
        )
        rejected = await review(third, ReviewAction.REJECT, reason="wrong_answer")
        fourth = await start(env.client, s2, asking("Eva Fox", "#80003"))
        fourth_state = await wait_for_review(fourth)
        await fourth.terminate("test done")
    assert edited.outcome == Outcome.EDITED
    assert cache_steps(edited) == [("classify", "hit:exact"), ("draft", "hit:exact")]
    assert rejected.outcome == Outcome.REJECTED
    entries = {r.step: r for r in rows(s)}
    assert {k: (r.trusted, r.evict_reason) for k, r in entries.items()} == {
        "classify": (False, "rejected by reviewer:ana"),
        "draft": (False, "rejected by reviewer:ana"),
    }
    assert [(x.step, x.outcome) for x in fourth_state.steps if x.kind == "cache"] == [
        ("classify", "miss"),
        ("draft", "miss"),
    ]


async def test_a_poisoned_or_corrupt_entry_is_never_served(env, ladder_settings):
    s = ladder_settings
    async with running_worker(env.client, s):
        first = await start(env.client, s, asking("Anna Berg", "#48213"))
        await review(first, ReviewAction.APPROVE)
        store = Store(s.store_url)
        with Session(store.engine) as session:
            draft = next(r for r in AnswerCache(store).rows() if r.step == "draft")
            row = session.get(CacheRow, draft.key)
            # another customer's values written into the template itself
            row.output = {
                "reply": row.output["reply"] + "\nAlso refunded 12.50 EUR to anna@example.com"
            }
            session.add(row)
            classify = next(r for r in AnswerCache(store).rows() if r.step == "classify")
            crow = session.get(CacheRow, classify.key)
            crow.entity_hashes = "not a list"  # a row no writer of ours produced
            session.add(crow)
            session.commit()
        store.close()
        second = await start(env.client, s, asking("Bob Stone", "#55501"))
        state = await wait_for_review(second)
        await second.terminate("test done")
    assert [(x.step, x.outcome) for x in state.steps if x.kind == "cache"] == [
        ("classify", "miss"),
        ("draft", "rejected:foreign_entity:amount,email,source_value"),
    ]
    classify_miss = next(x for x in state.steps if x.kind == "cache")
    assert classify_miss.details["skipped_corrupt"] == 1
    assert "anna" not in (state.draft.reply or "").lower()


async def test_an_entry_written_under_another_prompt_version_is_never_served(
    env, tmp_path, ladder_settings
):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    s = ladder_settings.model_copy(update={"data_dir": data})
    async with running_worker(env.client, s):
        first = await start(env.client, s, asking("Anna Berg", "#48213"))
        await review(first, ReviewAction.APPROVE)
    v1 = (data / "prompts" / "triage.draft.v1.toml").read_text()
    (data / "prompts" / "triage.draft.v2.toml").write_text(
        v1.replace('version = "v1"', 'version = "v2"').replace(
            "Be concrete", "Be brief and concrete"
        )
    )
    async with running_worker(env.client, s):
        second = await start(env.client, s, asking("Bob Stone", "#55501"))
        served = await second.result()
    # the classification's prompt did not change: still served; the reply's did: a miss
    assert cache_steps(served)[0] == ("classify", "hit:exact")
    assert cache_steps(served)[1] == ("draft", "miss")
    assert [x.prompt_version for x in served.steps if x.step == "draft" and x.kind == "model"] == [
        "triage.draft@v2"
    ]


async def test_a_paraphrase_is_served_by_meaning_and_another_question_is_not(env, ladder_settings):
    # the threshold from data/cache/threshold.json; pgvector on PostgreSQL, else in memory
    policy = CachePolicy(enabled=True, semantic=True, hit_confidence=1.0)
    s = ladder_settings.model_copy(update={"cache": policy})
    paraphrase = asking("Bob Stone", "#55501") | {
        "subject": "Order #55501 not arrived",
        "body": "Hello, my order #55501 from 2026-10-30 has still not arrived. Where is it? "
        "Thanks, Bob Stone",
    }
    other = asking("Cem Ay", "#55502") | {
        "subject": "Cancel my subscription",
        "body": "Please cancel my subscription at the end of this month. Thanks, Cem Ay",
    }
    async with running_worker(env.client, s):
        first = await start(env.client, s, asking("Anna Berg", "#48213"))
        approved = await review(first, ReviewAction.APPROVE)
        served = await (await start(env.client, s, paraphrase)).result()
        third = await start(env.client, s, other)
        state = await wait_for_review(third)
        await third.terminate("test done")
    assert cache_steps(served) == [("classify", "hit:semantic"), ("draft", "hit:semantic")]
    hit = next(x for x in served.steps if x.outcome == "hit:semantic")
    assert hit.details["similarity"] >= 0.82 and hit.details["source_workflow_id"] == first.id
    assert served.outcome == Outcome.RESOLVED
    assert served.reply == approved.reply.replace("Anna Berg", "Bob Stone").replace(
        "48213", "55501"
    ).replace(approved.ticket_id, served.ticket_id)
    assert [(x.step, x.outcome) for x in state.steps if x.kind == "cache"] == [
        ("classify", "miss"),
        ("draft", "miss"),
    ]


async def test_a_reply_corrected_with_another_category_is_served_under_that_category(
    env, ladder_settings
):
    s = ladder_settings
    corrected = (
        "Hello Anna Berg,\n\nWe are sorry your order #48213 is lost; a return label for "
        "the replacement follows by e-mail.\n\nBest regards,\naiflow Support"
    )
    async with running_worker(env.client, s):
        first = await start(env.client, s, asking("Anna Berg", "#48213"))
        edited = await review(first, ReviewAction.EDIT, category="returns", reply=corrected)
        served = await (await start(env.client, s, asking("Bob Stone", "#55501"))).result()
    assert (edited.outcome, edited.category) == (Outcome.EDITED, "returns")
    assert cache_steps(served) == [("classify", "hit:exact"), ("draft", "hit:exact")]
    assert served.category == "returns"
    assert served.reply == corrected.replace("Anna Berg", "Bob Stone").replace("#48213", "#55501")
