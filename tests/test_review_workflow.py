"""The review API of the triage run on a real Temporal server: the `submit_review` update
and its validator, the `review_decision` signal, the `pending_review` query, every action,
idempotency, the SLA escalation (time skipping) and the corrections persisted."""

from __future__ import annotations

from datetime import datetime

import pytest
from temporalio.client import WorkflowHandle

from activities.store import Store
from contracts import Outcome, ReviewAction, ReviewDecision, ReviewProposal
from starter import reviews
from starter.reviews import ReviewRefused
from tests.conftest import running_worker
from tests.test_triage_workflow import start, steps_of, ticket, wait_for_review

VIP = {"customer_tier": "vip"}  # rule vip-enterprise: always reviewed


def decision(action: str, **fields) -> ReviewDecision:
    return ReviewDecision(action=ReviewAction(action), reviewer="ana@example.com", **fields)


async def open_review(client, settings) -> tuple[WorkflowHandle, str]:
    raw = ticket(**VIP)
    handle = await start(client, settings, raw)
    await wait_for_review(handle)
    return handle, raw["ticket_id"]


async def update_events(handle: WorkflowHandle) -> list[str]:
    """The update-related event types in the run's history."""
    return [
        e.WhichOneof("attributes")
        async for e in handle.fetch_history_events()
        if "update" in (e.WhichOneof("attributes") or "")
    ]


async def test_pending_review_carries_what_a_reviewer_needs(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        req = await reviews.get(env.client, tid)
        await reviews.decide(env.client, tid, decision("approve"))
        result = await handle.result()
    assert (req.ticket_id, req.workflow_id, req.version, req.queue) == (
        tid,
        handle.id,
        1,
        "priority",
    )
    assert req.review_id.startswith("rv-") and len(req.review_id) == 15
    assert req.reasons == ["rule:vip-enterprise"]
    assert req.ticket.subject == "Charged twice for my subscription"
    assert (req.proposal.category, req.proposal.priority) == ("billing", "high")  # the rule's
    assert req.proposal.reply == result.reply
    assert req.prompt_versions == ["triage.classify@v1", "triage.draft@v1"]
    assert req.models == ["offline-knn-v1", "offline-template-v1"]
    assert req.cost_usd == result.cost_usd
    assert (req.sla_deadline - req.requested_at).total_seconds() == settings.review_sla_seconds
    assert [(e.kind, e.actor, e.version) for e in req.events] == [("opened", "aiflow", 1)]
    assert result.outcome == Outcome.APPROVED


async def test_update_approve_returns_receipt_and_persists_the_correction(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        req = await reviews.get(env.client, tid)
        receipt = await reviews.decide(
            env.client, tid, decision("approve", review_id=req.review_id, version=1)
        )
        result = await handle.result()
    assert (receipt.review_id, receipt.action, receipt.version, receipt.duplicate) == (
        req.review_id,
        ReviewAction.APPROVE,
        1,
        False,
    )
    assert receipt.final == req.proposal
    assert result.outcome == Outcome.APPROVED
    store = Store(settings.store_url)
    [row] = store.corrections()
    [stored_review] = [r for r in store_reviews(store) if r.review_id == req.review_id]
    store.close()
    assert (row.decision_id, row.action, row.reviewer, row.changed_fields) == (
        receipt.decision_id,
        "approve",
        "ana@example.com",
        [],
    )
    assert (row.reply_edit_ratio, row.proposed_category, row.final_category) == (
        0.0,
        "billing",
        "billing",
    )
    assert stored_review.status == "decided"


def store_reviews(store: Store):
    from sqlmodel import Session, select

    from activities.review_store import ReviewRow

    with Session(store.engine) as s:
        return list(s.exec(select(ReviewRow)).all())


async def test_edit_applies_corrected_fields_and_records_the_delta(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        req = await reviews.get(env.client, tid)
        new_reply = req.proposal.reply.replace("Hello", "Hi", 1)
        receipt = await reviews.decide(
            env.client,
            tid,
            decision("edit", reply=new_reply, priority="urgent", reason="tone", version=1),
        )
        result = await handle.result()
    assert receipt.final == ReviewProposal(category="billing", priority="urgent", reply=new_reply)
    assert (result.outcome, result.reply, result.priority, result.category) == (
        Outcome.EDITED,
        new_reply,
        "urgent",
        "billing",
    )
    store = Store(settings.store_url)
    [row] = store.corrections()
    store.close()
    assert row.changed_fields == ["priority", "reply"]
    assert row.delta["priority"] == {"old": "high", "new": "urgent"}
    assert row.delta["reply"] == {"old": req.proposal.reply, "new": new_reply}
    assert 0 < row.reply_edit_ratio < 0.1
    assert row.reason == "tone"


async def test_reject_needs_a_reason_and_sends_nothing(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        with pytest.raises(ReviewRefused, match="^reject needs a reason$"):
            await reviews.decide(env.client, tid, decision("reject"))
        await reviews.decide(env.client, tid, decision("reject", reason="duplicate"))
        result = await handle.result()
    assert (result.outcome, result.reply) == (Outcome.REJECTED, None)
    assert steps_of(result)[-2:] == [("review", "reject"), ("finalize", "rejected")]


REFUSALS = [
    ({"review_id": "rv-000000000000"}, "wrong review id 'rv-000000000000': the pending review is"),
    ({"version": 7}, "stale version 7: the review is at version 1"),
    ({"reviewer": "  "}, "a reviewer is required"),
    ({"category": "billing"}, "approve takes no corrected fields (category); use edit"),
]
EDIT_REFUSALS = [
    ({}, "edit needs at least one corrected field: reply, category or priority"),
    ({"category": "refunds"}, "category 'refunds' is not one of billing, technical,"),
    ({"priority": "p0"}, "priority 'p0' is not one of low, normal, high, urgent"),
    ({"reply": "   "}, "the reply must not be empty"),
    ({"reply": "x" * 5001}, "the reply is 5001 characters; at most 5000"),
    ({"reply": "Hello, use api_key=sk-live-0123456789abcdefghij. Best regards"}, "the reply "),
    ({"category": "billing"}, "the edit changes nothing; use approve"),
]


async def test_validator_refusals_never_reach_history(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        req = await reviews.get(env.client, tid)
        messages = []
        for fields, expected in REFUSALS:
            d = decision("approve").model_copy(update=fields)
            with pytest.raises(ReviewRefused) as refused:
                await reviews.decide(env.client, tid, d)
            messages.append((str(refused.value), expected))
        for fields, expected in EDIT_REFUSALS:
            with pytest.raises(ReviewRefused) as refused:
                await reviews.decide(env.client, tid, decision("edit", **fields))
            messages.append((str(refused.value), expected))
        for action, fields, expected in [
            ("reassign", {}, "reassign needs an assignee"),
            ("reject", {"reason": ""}, "reject needs a reason"),
        ]:
            with pytest.raises(ReviewRefused) as refused:
                await reviews.decide(env.client, tid, decision(action, **fields))
            messages.append((str(refused.value), expected))
        # an unknown action is refused before it reaches the workflow's code, too
        with pytest.raises(Exception) as unknown:
            await handle.execute_update(
                "submit_review", {"action": "delete", "reviewer": "ana"}, result_type=dict
            )
        events_before = await update_events(handle)
        still = await reviews.get(env.client, tid)
        await reviews.decide(env.client, tid, decision("approve"))
        await handle.result()
    for got, expected in messages:
        assert got.startswith(expected), (got, expected)
    assert "delete" in str(unknown.value.__cause__ or unknown.value)
    assert events_before == []  # no refused update left a trace in history
    assert (still.version, still.review_id) == (req.version, req.review_id)
    assert await update_events(handle) == [
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
    ]


async def test_duplicate_submissions_are_idempotent(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        d = decision("reassign", assignee="ben@example.com", decision_id="d-fixed-1")
        first = await reviews.decide(env.client, tid, d)
        # the same update id: Temporal answers it from the completed update
        again = await reviews.decide(env.client, tid, d)
        # the same decision under a fresh update id: the run recognises the decision id
        third = await handle.execute_update(
            "submit_review", d, id="another-update-id", result_type=type(first)
        )
        req = await reviews.get(env.client, tid)
        final = decision("approve", decision_id="d-fixed-2")
        approved = await reviews.decide(env.client, tid, final)
        await handle.result()
        # after the run ended, the tool still gets its receipt back
        late = await reviews.decide(env.client, tid, final)
        # rebuilt from the result when Temporal no longer holds the update's outcome
        rebuilt = reviews.answered(await handle.result(), final)
        with pytest.raises(ReviewRefused, match="^the review was already decided: approve by"):
            await reviews.decide(env.client, tid, decision("reject", reason="spam"))
    assert (first.decision_id, first.duplicate, first.version) == ("d-fixed-1", False, 2)
    assert again == first
    assert (third.decision_id, third.duplicate, third.version) == ("d-fixed-1", True, 2)
    assert (req.version, req.assignee, len(req.events)) == (2, "ben@example.com", 2)
    # Temporal answers a finished run's update id from history; the tool marks it a resend
    assert late == approved.model_copy(update={"duplicate": True})
    assert rebuilt == approved.model_copy(update={"duplicate": True})
    assert await update_events(handle) == [
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
    ]
    store = Store(settings.store_url)
    assert [c.decision_id for c in store.corrections()] == ["d-fixed-2"]
    store.close()


async def test_reassign_and_escalate_bump_the_version_then_a_stale_page_is_refused(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        r1 = await reviews.decide(
            env.client, tid, decision("reassign", assignee="ben@example.com", version=1)
        )
        with pytest.raises(ReviewRefused, match="^the review is already assigned to ben"):
            await reviews.decide(env.client, tid, decision("reassign", assignee="ben@example.com"))
        r2 = await reviews.decide(env.client, tid, decision("escalate", reason="legal", version=2))
        with pytest.raises(ReviewRefused, match="^the review is already escalated$"):
            await reviews.decide(env.client, tid, decision("escalate"))
        with pytest.raises(ReviewRefused, match="^stale version 1: the review is at version 3"):
            await reviews.decide(env.client, tid, decision("approve", version=1))
        req = await reviews.get(env.client, tid)
        await reviews.decide(env.client, tid, decision("approve", version=3))
        result = await handle.result()
    assert (r1.version, r2.version) == (2, 3)
    assert (req.version, req.assignee, req.escalated) == (3, "ben@example.com", True)
    assert [(e.kind, e.version, e.detail) for e in req.events] == [
        ("opened", 1, "rule:vip-enterprise"),
        ("reassigned", 2, "to ben@example.com"),
        ("escalated", 3, "legal"),
    ]
    assert result.outcome == Outcome.APPROVED
    store = Store(settings.store_url)
    [notice] = store.notifications(handle.id)
    store.close()
    assert (notice.kind, notice.delivered_to) == ("review_escalated", "store")
    assert notice.message.startswith(f"Review of ticket {tid} escalated by ana@example.com (legal)")


async def test_signal_applies_a_valid_decision_and_drops_an_invalid_one(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        await reviews.send(env.client, tid, decision("edit", category="nonsense"))
        await reviews.send(env.client, tid, decision("edit", category="shipping"))
        result = await handle.result()
    assert (result.outcome, result.category) == (Outcome.EDITED, "shipping")
    review = result.steps[-2]
    assert (review.step, review.outcome, review.details["version"]) == ("review", "edit", 1)


async def test_sla_escalates_exactly_once_then_takes_the_safe_default(ts_env, settings):
    day = 24 * 3600.0
    quick = settings.model_copy(
        update={
            "review_sla_seconds": 2 * day,
            "review_escalation_sla_seconds": 1 * day,
            "search_attributes": "off",
        }
    )
    async with running_worker(ts_env.client, quick):
        handle = await start(ts_env.client, quick, ticket(**VIP))
        result = await handle.result()  # time skipping: 2 days, escalate, 1 more day
    assert (result.outcome, result.route) == (Outcome.ESCALATED, "escalations")
    assert result.reasons == ["rule:vip-enterprise", "sla_expired"]
    assert steps_of(result)[-2:] == [("review", "sla_expired:escalate"), ("finalize", "escalated")]
    review = result.steps[-2]
    assert round((review.ended_at - review.started_at).total_seconds()) == 3 * day
    assert (review.details["escalated"], review.details["version"]) == (True, 2)
    store = Store(quick.store_url)
    notices = store.notifications(handle.id)
    [row] = [r for r in store_reviews(store) if r.workflow_id == handle.id]
    store.close()
    assert [n.kind for n in notices] == ["review_escalated"]
    assert notices[0].message.startswith("Review of ticket ")
    assert "escalated by aiflow (review SLA expired)" in notices[0].message
    assert (row.status, row.version, row.escalated) == ("expired", 2, True)
    events = [e async for e in handle.fetch_history_events()]
    timers = [e for e in events if e.HasField("timer_started_event_attributes")]
    fired = [t.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() for t in timers]
    assert round(fired[0].total_seconds()) == 2 * day

    # The second SLA runs from the escalation (workflow.now() of the task the first timer
    # fired into); the notice and the review save run before its timer starts, so the timer
    # itself is a day less their time, and it ends exactly one day after the escalation.
    def task_time(before: int) -> datetime:  # workflow.now() of the task holding an event
        started = [
            e
            for e in events
            if e.event_id < before and e.HasField("workflow_task_started_event_attributes")
        ]
        return started[-1].event_time.ToDatetime()

    first_fired = next(e for e in events if e.HasField("timer_fired_event_attributes"))
    escalated_at = next(
        e.event_time.ToDatetime()
        for e in events
        if e.event_id > first_fired.event_id
        and e.HasField("workflow_task_started_event_attributes")
    )
    second_ends = task_time(timers[1].event_id) + fired[1]
    # (event times and workflow.now() differ by a few ms: a tenth of a second is exact here)
    assert round((second_ends - escalated_at).total_seconds(), 1) == 1 * day


async def test_safe_default_reject(ts_env, settings):
    quick = settings.model_copy(
        update={
            "review_sla_seconds": 3600.0,
            "review_safe_default": "reject",
            "search_attributes": "off",
        }
    )
    async with running_worker(ts_env.client, quick):
        handle = await start(ts_env.client, quick, ticket(**VIP))
        result = await handle.result()
    assert (result.outcome, result.route, result.reply) == (Outcome.REJECTED, "priority", None)
    assert steps_of(result)[-2] == ("review", "sla_expired:reject")


async def test_signal_sent_while_no_worker_runs_is_applied_when_one_starts(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
    # every worker is gone: the update would wait, the signal is accepted by the server
    await reviews.send(env.client, tid, decision("reject", reason="duplicate"))
    async with running_worker(env.client, settings):
        result = await handle.result()
    assert (result.outcome, result.reply) == (Outcome.REJECTED, None)
    review = result.steps[-2]
    assert (review.outcome, review.details["reason"]) == ("reject", "duplicate")


async def test_update_without_a_worker_times_out_with_advice(env, settings):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
    with pytest.raises(reviews.NoWorker, match="no worker answered within 2 s. Start one"):
        await reviews.decide(env.client, tid, decision("approve", decision_id="d-late"), timeout=2)
    async with running_worker(env.client, settings):
        # the same decision again, now answered; whether the server kept the first attempt
        # or not, it is applied once
        receipt = await reviews.decide(env.client, tid, decision("approve", decision_id="d-late"))
        result = await handle.result()
    assert (receipt.decision_id, result.outcome) == ("d-late", Outcome.APPROVED)
    accepted = [e for e in await update_events(handle) if "accepted" in e]
    assert len(accepted) == 1
