"""Ticket triage: the ticket, the model's answers, its review and its result.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from contracts.common import Outcome, Stage, StepRecord, Wire
from contracts.models import ModelWait
from contracts.qa import QaFinding, QaReport


class Ticket(Wire):
    """A support ticket as a client submits it: raw, untrusted, possibly invalid."""

    ticket_id: str
    subject: str | None = None
    body: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    channel: str | None = None  # email, chat, web, phone
    customer_tier: str | None = None  # free, pro, vip, enterprise
    language: str | None = None  # ISO 639-1 hint from the channel, if any
    metadata: dict[str, str] = Field(default_factory=dict)
    # Set by the starter when the body was too large to travel in history whole: `body` is
    # then an excerpt, the whole is stored at `body_ref` and has `body_chars` characters.
    body_ref: str | None = None
    body_chars: int | None = None


class NormalizedTicket(Wire):
    """A valid ticket as intake leaves it: clean text, the body to triage (see
    workflows/intake.py)."""

    ticket_id: str
    subject: str
    body: str  # the new text, at most max_body_chars: what the models and rules see
    customer_email: str
    customer_name: str | None = None
    channel: str
    customer_tier: str
    language: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    body_excerpt: bool = False  # `body` is the start of a longer body, not all of it
    body_chars: int | None = None  # the whole body's length as sent (None: before these)
    body_ref: str | None = None  # where the whole body is stored, if the client stored it
    quoted_chars: int = 0  # of quoted history (a reply's earlier messages) cut
    signature_chars: int = 0  # of the signature (after a "-- " line) cut


class Rejection(Wire):
    code: str  # machine-readable: missing_field, body_too_long, invalid_email, ...
    field: str | None = None
    message: str


class Classification(Wire):
    category: str
    priority: str
    confidence: float = Field(ge=0.0, le=1.0)
    language: str
    reasoning: str


class Draft(Wire):
    reply: str
    reasoning: str


CATEGORIES = ("billing", "technical", "account", "shipping", "returns", "feedback", "other")


PRIORITIES = ("low", "normal", "high", "urgent")


class ReviewAction(StrEnum):
    APPROVE = "approve"  # send the AI proposal as it is
    EDIT = "edit"  # send it with the reviewer's corrected fields
    REJECT = "reject"  # send nothing; a reason is required
    ESCALATE = "escalate"  # hand to the escalation tier with a second SLA (once)
    REASSIGN = "reassign"  # hand to another reviewer; the SLA keeps running
    SPAM = "spam"  # close as spam: nothing is sent, and the item becomes a spam example


TERMINAL_ACTIONS = frozenset(
    {ReviewAction.APPROVE, ReviewAction.EDIT, ReviewAction.REJECT, ReviewAction.SPAM}
)
# Decisions that send nothing to the customer.
CLOSING_ACTIONS = frozenset({ReviewAction.REJECT, ReviewAction.SPAM})


class ReviewDecision(Wire):
    """A reviewer's decision, sent as the `submit_review` update or `review_decision` signal.

    `review_id` and `version` name the review the reviewer saw: a decision for another
    review, or for an older version (the run moved on: reassigned, escalated), is refused.
    Both may be left out by fire-and-forget tools. `decision_id` makes a submission
    idempotent; left out, it is derived from the review, version, action and reviewer.
    """

    action: ReviewAction
    reviewer: str
    decision_id: str | None = None
    review_id: str | None = None
    version: int | None = None
    # edit: the corrected fields; fields left out keep the AI's value
    reply: str | None = None
    category: str | None = None
    priority: str | None = None
    reason: str | None = None  # a reason code: required for reject, kept for every action
    assignee: str | None = None  # reassign: who takes the review over
    note: str | None = None


class ReviewProposal(Wire):
    """The reviewer-editable fields: the AI's proposal, or the final answer after review."""

    category: str | None = None
    priority: str | None = None
    reply: str | None = None


class ReviewEvent(Wire):
    """A change to a pending review (bounded: a review refuses changes past its cap)."""

    at: datetime
    kind: str  # opened, reassigned, escalated, sla_escalated, ignored_signal
    actor: str
    version: int
    detail: str | None = None


class ReviewRequest(Wire):
    """Everything a reviewer needs, returned by the `pending_review` query."""

    review_id: str
    version: int
    workflow_id: str
    ticket_id: str
    queue: str  # the route the ticket goes to
    ticket: NormalizedTicket | None = None
    proposal: ReviewProposal
    confidence: float | None = None
    language: str | None = None
    reasoning: str | None = None  # the classifier's one-line reasoning
    reasons: list[str] = Field(default_factory=list)  # why a person must decide
    qa_findings: list[QaFinding] = Field(default_factory=list)
    partial_output: str | None = None  # a model answer that never validated
    cost_usd: float = 0.0
    prompt_versions: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    requested_at: datetime
    sla_deadline: datetime
    escalated: bool = False
    assignee: str | None = None
    events: list[ReviewEvent] = Field(default_factory=list)


class ReviewReceipt(Wire):
    """What the `submit_review` update returns: the decision as the run applied it."""

    review_id: str
    decision_id: str
    action: ReviewAction
    version: int  # the review's version after the decision
    duplicate: bool = False  # the same decision id was applied before: nothing changed
    final: ReviewProposal | None = None  # for approve / edit: what will be sent


class Correction(Wire):
    """A reviewer's terminal decision next to the AI proposal: feedback data."""

    decision_id: str
    review_id: str
    action: ReviewAction
    reviewer: str
    reason: str | None = None
    note: str | None = None
    requested_at: datetime
    decided_at: datetime
    proposal: ReviewProposal
    final: ReviewProposal | None = None  # None for reject
    confidence: float | None = None
    prompt_versions: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    escalated: bool = False


class TriageInput(Wire):
    ticket: Ticket


class TriageResult(Wire):
    workflow_id: str
    ticket_id: str
    outcome: Outcome
    route: str
    category: str | None = None
    priority: str | None = None
    confidence: float | None = None
    reply: str | None = None
    rejections: list[Rejection] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)  # why it went to review / closed / failed
    error: str | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    model_calls: int = 0
    steps: list[StepRecord] = Field(default_factory=list)


class RunState(Wire):
    """Returned by the `status` query while the run lives."""

    workflow_id: str
    ticket_id: str
    stage: Stage
    route: str | None = None
    needs_review: bool = False
    review_reasons: list[str] = Field(default_factory=list)
    review: ReviewRequest | None = None  # the review, pending or decided
    ticket: NormalizedTicket | None = None
    classification: Classification | None = None
    draft: Draft | None = None
    qa: QaReport | None = None
    partial_output: str | None = None  # a model answer that never validated, for the reviewer
    steps: list[StepRecord] = Field(default_factory=list)
    cost_usd: float = 0.0
    deadline_at: datetime | None = None  # the run's decision deadline (its "run" budget)
    result: TriageResult | None = None
    model_wait: ModelWait | None = None  # set while a model step waits for its models
