"""The triage workflow end to end on a real Temporal dev server, with aiflow's real workers,
the offline provider and a SQLite store."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from activities.store import Store
from contracts import Outcome, ReviewAction, ReviewDecision, RunState, Stage, TriageResult
from starter.submit import submit, wait_settled, workflow_id_for
from tests.conftest import running_worker
from workflows import search_attributes as sa
from workflows.triage import TriageWorkflow

BILLING = {
    "subject": "Charged twice for my subscription",
    "body": "Hello, I was charged twice for my Pro subscription this month (invoice INV-2291). "
    "Please refund the duplicate charge to my card.",
    "customer_email": "maria@example.com",
    "customer_name": "Maria",
    "channel": "email",
    "customer_tier": "pro",
}


def ticket(**overrides) -> dict:
    return {"ticket_id": f"T-{uuid.uuid4().hex[:8]}", **BILLING, **overrides}


async def start(client, settings, raw: dict) -> WorkflowHandle:
    store = Store(settings.store_url)
    store.create_schema()
    try:
        sub = await submit(client, settings, store, raw)
    finally:
        store.close()
    assert sub.error is None
    return sub.handle


def steps_of(result: TriageResult) -> list[tuple[str, str]]:
    return [(s.step, s.outcome) for s in result.steps]


async def test_happy_path_resolves_and_persists(env, settings):
    raw = ticket()
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        result = await handle.result()
    assert result.outcome == Outcome.RESOLVED
    assert result.category == "billing"
    assert result.route == "general"
    assert steps_of(result) == [
        ("intake", "ok"),
        ("rules", "route:general"),
        ("classify", "ok"),
        ("draft", "ok"),
        ("qa", "pass"),
        ("decide", "auto"),
        ("finalize", "resolved"),
    ]
    assert result.model_calls == 2
    classify = result.steps[2]
    assert (classify.kind, classify.model, classify.prompt_version, classify.attempt) == (
        "model",
        "offline-knn-v1",
        "triage.classify@v1",
        1,
    )
    assert classify.input_tokens > 0 and classify.tokens_estimated is True
    assert result.cost_usd == round(sum(s.cost_usd for s in result.steps), 10)
    assert result.cost_usd > 0
    assert result.reply.startswith("Hello Maria")
    store = Store(settings.store_url)
    row = store.get_run(handle.id)
    assert (row.stage, row.outcome, row.category, row.model_calls) == (
        "done",
        "resolved",
        "billing",
        2,
    )
    assert store.get_result(handle.id) == result
    store.close()


async def test_invalid_ticket_is_rejected_with_reasons_not_failed(env, settings):
    raw = ticket(body="   ", customer_email="not-an-email")
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        result = await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert result.outcome == Outcome.REJECTED
    assert [(r.code, r.field) for r in result.rejections] == [
        ("invalid_email", "customer_email"),
        ("empty_body", "body"),
    ]
    assert result.model_calls == 0
    assert steps_of(result) == [("intake", "rejected"), ("finalize", "rejected")]


async def test_rule_early_exit_calls_no_model(env, settings):
    raw = ticket(subject="Re: my order", body="Thanks, it works now!")
    async with running_worker(env.client, settings):
        result = await (await start(env.client, settings, raw)).result()
    assert result.outcome == Outcome.CLOSED
    assert result.reasons == ["rule:thanks-solved-en"]
    assert result.model_calls == 0
    assert [s.kind.value for s in result.steps] == ["code", "rule", "code"]


async def test_model_fault_is_retried_then_succeeds(env, settings):
    flaky = settings.model_copy(
        update={
            "offline_fault_rate": 1.0,
            "offline_fault_kinds": ["rate_limit"],
            "offline_fault_max_attempt": 2,
        }
    )
    async with running_worker(env.client, flaky):
        result = await (await start(env.client, flaky, ticket())).result()
    assert result.outcome == Outcome.RESOLVED
    assert [(s.step, s.attempt) for s in result.steps if s.kind == "model"] == [
        ("classify", 3),
        ("draft", 3),
    ]


async def test_a_request_the_provider_refuses_goes_to_review_not_failed(env, settings):
    broken = settings.model_copy(
        update={"offline_fault_rate": 1.0, "offline_fault_kinds": ["bad_request"]}
    )
    async with running_worker(env.client, broken):
        handle = await start(env.client, broken, ticket())
        state = await wait_for_review(handle)
    assert state.review_reasons == ["model_error:classify"]
    assert state.review.proposal.category is None
    assert [(s.step, s.outcome) for s in state.steps][-1] == ("classify", "error")
    assert state.steps[-1].reasoning == ("BadRequest: offline provider: injected bad request")
    assert state.steps[-1].details["failure_class"] == "error"
    failures = [
        e
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert len(failures) == 1  # not retried, not waited for
    await handle.terminate("test done")


async def wait_for_review(handle: WorkflowHandle) -> RunState:
    settled = await wait_settled(handle, poll=0.1)
    assert isinstance(settled, RunState)
    return settled


async def test_review_wait_status_query_and_approve(env, settings):
    raw = ticket(customer_tier="vip")
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        state = await wait_for_review(handle)
        assert (state.stage, state.needs_review) == (Stage.REVIEW, True)
        assert state.review_reasons == ["rule:vip-enterprise"]
        assert state.classification.category == "billing"
        assert [s.step for s in state.steps] == [
            "intake",
            "rules",
            "classify",
            "draft",
            "qa",
            "decide",
        ]
        store = Store(settings.store_url)
        row = store.get_run(handle.id)
        assert (row.stage, row.needs_review, row.outcome) == ("review", True, None)
        await handle.execute_update(
            TriageWorkflow.submit_review,
            ReviewDecision(action=ReviewAction.APPROVE, reviewer="ana"),
        )
        result = await handle.result()
        row = store.get_run(handle.id)
        store.close()
    assert result.outcome == Outcome.APPROVED
    assert result.reply == state.draft.reply
    assert result.steps[-2].step == "review"
    assert (result.steps[-2].kind, result.steps[-2].outcome) == ("human", "approve")
    assert (row.stage, row.needs_review, row.outcome) == ("done", False, "approved")


async def test_same_ticket_twice_is_processed_once(env, settings):
    raw = ticket()
    store = Store(settings.store_url)
    store.create_schema()
    async with running_worker(env.client, settings):
        first = await submit(env.client, settings, store, raw)
        second = await submit(env.client, settings, store, raw)
        await first.handle.result()
        third = await submit(env.client, settings, store, raw)
    store.close()
    assert (first.duplicate, second.duplicate, third.duplicate) == (False, True, True)
    assert second.handle.id == first.handle.id == workflow_id_for(raw["ticket_id"])
    runs = [wf async for wf in env.client.list_workflows(f"WorkflowId = '{first.handle.id}'")]
    assert len(runs) == 1


async def test_oversized_body_is_triaged_on_an_excerpt_and_stays_out_of_history(env, settings):
    body = "My invoice is wrong. " * 3000  # 63,000 characters, over the 20,000 cap
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, ticket(body=body))
        settled = await wait_settled(handle, poll=0.2)
        state = await handle.query(TriageWorkflow.status)
        if isinstance(settled, RunState):
            await handle.terminate("test done")
    assert isinstance(settled, RunState) or settled.outcome != Outcome.REJECTED
    blob_ref = (await _started_input(handle))["ticket"]["body_ref"]
    t = state.ticket  # never rejected for its length: triaged on its first 20,000 chars
    assert (t.body, t.body_excerpt, t.body_chars, t.body_ref) == (
        body[:20_000].strip(),
        True,
        63_000,
        blob_ref,
    )
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert 20_000 < sum(len(p.data) for p in started.input.payloads) < 21_000
    store = Store(settings.store_url)
    assert store.get_blob(blob_ref) == body
    store.close()


async def _started_input(handle: WorkflowHandle) -> dict:
    import json

    history = await handle.fetch_history()
    payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    return json.loads(payload.data)


async def test_search_attributes_are_queryable_after_a_run(env, settings):
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, ticket())
        result = await handle.result()
    query = (
        f"WorkflowId = '{handle.id}' AND AiflowOutcome = 'resolved' AND "
        f"AiflowCategory = 'billing' AND AiflowStage = 'done' AND AiflowNeedsReview = false "
        f"AND AiflowRoute = 'general' AND AiflowCostUsd > 0"
    )
    for _ in range(50):  # visibility is eventually consistent
        found = [wf async for wf in env.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert [wf.id for wf in found] == [handle.id]
    attrs = found[0].typed_search_attributes
    assert attrs.get(sa.COST_USD) == result.cost_usd > 0
    assert (attrs.get(sa.OUTCOME), attrs.get(sa.ROUTE)) == ("resolved", "general")
