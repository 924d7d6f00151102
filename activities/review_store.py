"""Review tables: each review's latest state, every reviewer correction, every notice.

Corrections are feedback data: the AI proposal and the final answer side by side, with
the field-level delta and an edit-distance ratio for text, computed once here so export
and reports read plain rows. Writes are upserts on natural keys (a retried local
activity never duplicates a row) and join the run's own transaction in `Store.save_run`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column
from sqlalchemy.orm import defer
from sqlmodel import Field, Session, SQLModel, select

from contracts import Correction, Notification, PersistRunInput, ReviewProposal, ReviewRequest
from protection.sealed import SealedJSON, SealedText


class ReviewRow(SQLModel, table=True):
    __tablename__ = "reviews"

    review_id: str = Field(primary_key=True, max_length=64)
    workflow_id: str = Field(index=True, max_length=128)
    ticket_id: str = Field(index=True, max_length=64)
    status: str = Field(index=True, max_length=16)  # pending | decided | expired
    version: int
    queue: str = Field(max_length=64)
    assignee: str | None = Field(default=None, max_length=128)
    escalated: bool = False
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    category: str | None = Field(default=None, index=True, max_length=32)
    confidence: float | None = None
    cost_usd: float = 0.0
    requested_at: datetime
    sla_deadline: datetime
    request: dict[str, Any] = Field(sa_column=Column(SealedJSON("reviews.request"), nullable=False))


class CorrectionRow(SQLModel, table=True):
    __tablename__ = "corrections"

    decision_id: str = Field(primary_key=True, max_length=128)
    review_id: str = Field(index=True, max_length=64)
    workflow_id: str = Field(index=True, max_length=128)
    ticket_id: str = Field(max_length=64)
    action: str = Field(index=True, max_length=16)
    reviewer: str = Field(max_length=128)
    reason: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, sa_column=Column(SealedText("corrections.note")))
    requested_at: datetime
    decided_at: datetime
    time_to_review_s: float
    proposed_category: str | None = Field(default=None, index=True, max_length=32)
    final_category: str | None = Field(default=None, max_length=32)
    prompt_versions: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    models: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    confidence: float | None = None
    escalated: bool = False
    proposal: dict[str, Any] = Field(
        sa_column=Column(SealedJSON("corrections.proposal"), nullable=False)
    )
    final: dict[str, Any] | None = Field(
        default=None, sa_column=Column(SealedJSON("corrections.final"))
    )
    changed_fields: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    delta: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(SealedJSON("corrections.delta"))
    )
    reply_edit_ratio: float | None = None  # 0 = unchanged … 1 = rewritten


class NotificationRow(SQLModel, table=True):
    __tablename__ = "notifications"

    key: str = Field(primary_key=True, max_length=200)
    kind: str = Field(index=True, max_length=32)
    workflow_id: str = Field(index=True, max_length=128)
    ticket_id: str = Field(max_length=64)
    message: str = Field(sa_column=Column(SealedText("notifications.message"), nullable=False))
    created_at: datetime
    delivered_to: str | None = Field(default=None, max_length=32)  # store|webhook[_pending]


def field_delta(proposal: ReviewProposal, final: ReviewProposal | None) -> dict[str, Any]:
    """{field: {"old": ..., "new": ...}} for each field the reviewer changed."""
    if final is None:
        return {}
    old, new = proposal.model_dump(), final.model_dump()
    return {f: {"old": old[f], "new": new[f]} for f in old if old[f] != new[f]}


def edit_ratio(old: str | None, new: str | None) -> float:
    """1 - difflib's similarity: 0.0 for identical text, 1.0 for nothing in common."""
    return round(1.0 - difflib.SequenceMatcher(None, old or "", new or "").ratio(), 4)


def correction_row(workflow_id: str, ticket_id: str, c: Correction) -> dict[str, Any]:
    delta = field_delta(c.proposal, c.final)
    return {
        "decision_id": c.decision_id,
        "review_id": c.review_id,
        "workflow_id": workflow_id,
        "ticket_id": ticket_id,
        "action": c.action.value,
        "reviewer": c.reviewer,
        "reason": c.reason,
        "note": c.note,
        "requested_at": c.requested_at,
        "decided_at": c.decided_at,
        "time_to_review_s": round((c.decided_at - c.requested_at).total_seconds(), 3),
        "proposed_category": c.proposal.category,
        "final_category": c.final.category if c.final else None,
        "prompt_versions": c.prompt_versions,
        "models": c.models,
        "confidence": c.confidence,
        "escalated": c.escalated,
        "proposal": c.proposal.model_dump(mode="json"),
        "final": c.final.model_dump(mode="json") if c.final else None,
        "changed_fields": sorted(delta),
        "delta": delta,
        "reply_edit_ratio": edit_ratio(c.proposal.reply, c.final.reply) if c.final else None,
    }


def review_row(r: ReviewRequest, status: str) -> dict[str, Any]:
    return {
        "review_id": r.review_id,
        "workflow_id": r.workflow_id,
        "ticket_id": r.ticket_id,
        "status": status,
        "version": r.version,
        "queue": r.queue,
        "assignee": r.assignee,
        "escalated": r.escalated,
        "reasons": r.reasons,
        "category": r.proposal.category,
        "confidence": r.confidence,
        "cost_usd": r.cost_usd,
        "requested_at": r.requested_at,
        "sla_deadline": r.sla_deadline,
        "request": r.model_dump(mode="json"),
    }


def review_rows(run: PersistRunInput) -> list[tuple[type[SQLModel], list[dict], list[str]]]:
    """The review-side rows of one persist call: (table, rows, key columns)."""
    out: list[tuple[type[SQLModel], list[dict], list[str]]] = []
    if run.review is not None and run.review_status:
        out.append((ReviewRow, [review_row(run.review, run.review_status)], ["review_id"]))
    if run.correction is not None:
        rows = [correction_row(run.workflow_id, run.ticket_id, run.correction)]
        out.append((CorrectionRow, rows, ["decision_id"]))
    return out


def notification_row(n: Notification, at: datetime, delivered_to: str) -> dict[str, Any]:
    return {**n.model_dump(), "created_at": at, "delivered_to": delivered_to}


@dataclass(frozen=True)
class QueueFilter:
    """Which pending reviews a listing or a bulk decision takes: all given conditions."""

    route: str | None = None  # the review's queue: general, legal, spam-review, ...
    reason: str | None = None  # one of its reasons: low_confidence, likely_spam, ...
    assignee: str | None = None  # "-" for unassigned
    older_than: timedelta | None = None  # waiting at least this long
    limit: int | None = None


def pending_queue(
    session: Session, f: QueueFilter, now: datetime, *, full: bool = False
) -> list[ReviewRow]:
    """Pending reviews matching `f`, most urgent SLA first; without their request bodies
    (a listing of thousands reads only the columns it shows) unless `full`."""
    q = select(ReviewRow).where(ReviewRow.status == "pending")
    if f.route:
        q = q.where(ReviewRow.queue == f.route)
    if f.assignee == "-":
        q = q.where(ReviewRow.assignee.is_(None))  # type: ignore[union-attr]
    elif f.assignee:
        q = q.where(ReviewRow.assignee == f.assignee)
    if f.older_than is not None:
        q = q.where(ReviewRow.requested_at <= now - f.older_than)
    q = q.order_by(ReviewRow.sla_deadline, ReviewRow.requested_at, ReviewRow.review_id)
    if not full:
        q = q.options(defer(ReviewRow.request))  # type: ignore[arg-type]
    rows = [r for r in session.exec(q) if not f.reason or f.reason in (r.reasons or [])]
    return rows[: f.limit] if f.limit else rows


def pending_reviews(session: Session) -> list[ReviewRequest]:
    rows = session.exec(
        select(ReviewRow).where(ReviewRow.status == "pending").order_by(ReviewRow.requested_at)
    ).all()
    return [ReviewRequest.model_validate(r.request) for r in rows]


def corrections(session: Session) -> list[CorrectionRow]:
    return list(session.exec(select(CorrectionRow).order_by(CorrectionRow.decided_at)).all())


def notifications(session: Session, workflow_id: str | None = None) -> list[NotificationRow]:
    query = select(NotificationRow).order_by(NotificationRow.created_at)
    if workflow_id is not None:
        query = query.where(NotificationRow.workflow_id == workflow_id)
    return list(session.exec(query).all())
