"""Review tables on SQLite and PostgreSQL: a review's lifecycle, corrections with their
delta and edit ratio, idempotent notices."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from activities.review_store import CorrectionRow, ReviewRow, edit_ratio, field_delta
from activities.store import Store
from contracts import (
    Correction,
    NormalizedTicket,
    Notification,
    PersistRunInput,
    ReviewAction,
    ReviewProposal,
    ReviewRequest,
    Stage,
)

T0 = datetime(2026, 5, 4, 9, 0, 0, tzinfo=UTC)
PROPOSAL = ReviewProposal(category="billing", priority="high", reply="Hello Ana, refunded.")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path}/s.db" if request.param == "sqlite" else None
    s = Store(url or request.getfixturevalue("pg_url"))
    s.create_schema()
    yield s
    s.close()


def request_for(wf: str, version: int = 1) -> ReviewRequest:
    return ReviewRequest(
        review_id=f"rv-{wf[-12:]}",
        version=version,
        workflow_id=wf,
        ticket_id=f"T-{wf[-6:]}",
        queue="priority",
        ticket=NormalizedTicket(
            ticket_id=f"T-{wf[-6:]}",
            subject="Charged twice",
            body="Please refund — ünïcödé ✓",
            customer_email="ana@example.com",
            channel="email",
            customer_tier="vip",
        ),
        proposal=PROPOSAL,
        confidence=0.42,
        reasons=["low_confidence", "rule:vip-enterprise"],
        cost_usd=0.000321,
        prompt_versions=["triage.classify@v1", "triage.draft@v1"],
        models=["offline-knn-v1"],
        requested_at=T0,
        sla_deadline=T0 + timedelta(hours=24),
    )


def persist(wf: str, status: str, **fields) -> PersistRunInput:
    return PersistRunInput(
        workflow_id=wf,
        run_id="run-1",
        ticket_id=f"T-{wf[-6:]}",
        stage=Stage.REVIEW,
        steps=[],
        review_reasons=["low_confidence"],
        review_status=status,
        **fields,
    )


def test_delta_and_edit_ratio_are_exact():
    final = PROPOSAL.model_copy(update={"category": "account", "reply": "Hello Ana, refunded!"})
    assert field_delta(PROPOSAL, final) == {
        "category": {"old": "billing", "new": "account"},
        "reply": {"old": "Hello Ana, refunded.", "new": "Hello Ana, refunded!"},
    }
    assert field_delta(PROPOSAL, None) == {}
    assert edit_ratio("abcd", "abcd") == 0.0
    assert edit_ratio("abcd", "wxyz") == 1.0
    assert edit_ratio("Hello Ana, refunded.", "Hello Ana, refunded!") == 0.05  # 1 - 38/40
    assert edit_ratio(None, "x") == 1.0


def test_review_lifecycle_and_correction_round_trip(store: Store):
    wf = f"wf-{uuid.uuid4().hex}"
    req = request_for(wf)
    store.save_run(persist(wf, "pending", review=req))
    assert req in store.pending_reviews()
    moved = req.model_copy(update={"version": 2, "assignee": "ben@example.com"})
    store.save_run(persist(wf, "pending", review=moved))  # a retried write changes nothing more
    store.save_run(persist(wf, "pending", review=moved))
    assert [r for r in store.pending_reviews() if r.workflow_id == wf] == [moved]
    final = PROPOSAL.model_copy(update={"category": "account"})
    correction = Correction(
        decision_id=f"d-{wf}",
        review_id=req.review_id,
        action=ReviewAction.EDIT,
        reviewer="ben@example.com",
        reason="wrong_category",
        requested_at=T0,
        decided_at=T0 + timedelta(minutes=7, seconds=30),
        proposal=PROPOSAL,
        final=final,
        confidence=0.42,
        prompt_versions=req.prompt_versions,
        models=req.models,
    )
    done = persist(wf, "decided", review=moved, correction=correction)
    store.save_run(done)
    store.save_run(done)
    assert all(r.workflow_id != wf for r in store.pending_reviews())
    with Session(store.engine) as s:
        review = s.exec(select(ReviewRow).where(ReviewRow.workflow_id == wf)).one()
        [row] = s.exec(select(CorrectionRow).where(CorrectionRow.workflow_id == wf)).all()
    assert (review.status, review.version, review.assignee) == ("decided", 2, "ben@example.com")
    assert ReviewRequest.model_validate(review.request) == moved
    assert (row.action, row.reviewer, row.reason, row.time_to_review_s) == (
        "edit",
        "ben@example.com",
        "wrong_category",
        450.0,
    )
    assert (row.proposed_category, row.final_category, row.changed_fields) == (
        "billing",
        "account",
        ["category"],
    )
    assert row.delta == {"category": {"old": "billing", "new": "account"}}
    assert (row.reply_edit_ratio, row.prompt_versions) == (0.0, req.prompt_versions)
    assert row.final == final.model_dump()


def test_notices_are_idempotent_by_key(store: Store):
    wf = f"wf-{uuid.uuid4().hex}"
    notice = Notification(
        key=f"{wf}:escalated:rv-1",
        kind="review_escalated",
        workflow_id=wf,
        ticket_id="T-1",
        message="Review of ticket T-1 escalated",
    )
    store.put_notification(notice, "store")
    store.put_notification(notice, "webhook")  # the retry after a delivered webhook
    [row] = store.notifications(wf)
    assert (row.key, row.kind, row.delivered_to, row.message) == (
        notice.key,
        "review_escalated",
        "webhook",
        "Review of ticket T-1 escalated",
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_gauges_count_pending_and_overdue_reviews_and_breakers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
):
    from temporalio.runtime import Runtime

    from activities.telemetry import StoreGauges
    from settings import Settings
    from worker import breakers_for

    url = f"sqlite:///{tmp_path}/g.db" if backend == "sqlite" else None
    s = Store(url or request.getfixturevalue("fresh_pg_url"))
    s.create_schema()
    breakers = breakers_for(Settings(breaker_failure_threshold=2), s)
    breakers.create_schema()
    try:
        now = datetime.now(UTC)
        late = request_for("wf-late-000001").model_copy(
            update={"sla_deadline": now - timedelta(minutes=5)}
        )
        fresh = request_for("wf-fresh-00002").model_copy(
            update={"sla_deadline": now + timedelta(hours=5)}
        )
        done = request_for("wf-done-000003")
        s.save_run(persist(late.workflow_id, "pending", review=late))
        s.save_run(persist(fresh.workflow_id, "pending", review=fresh))
        s.save_run(persist(done.workflow_id, "decided", review=done))
        breakers.record_failure("openai/gpt-4o-mini")
        breakers.record_failure("openai/gpt-4o-mini")  # the threshold: open
        breakers.record_failure("offline/offline-knn-v1")  # below it: closed
        sampled = StoreGauges(Runtime.default().metric_meter, s, breakers).sample()
    finally:
        s.close()
    assert sampled == {
        "depth": 2,
        "overdue": 1,
        "openai/gpt-4o-mini": 2,
        "offline/offline-knn-v1": 0,
    }
