"""The review gate: a durable wait for one reviewer decision, with an SLA, one escalation
and a safe default. Deterministic workflow code.

A decision arrives as the `submit_review` update (validated before it reaches history;
the tool gets the receipt or the reason back) or as the `review_decision` signal (for
fire-and-forget tools; an invalid one is logged and ignored). Both go through `refusal`.
Each review is capped at MAX_REVIEW_CHANGES accepted changes, so a long wait cannot grow
history without bound.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from temporalio import workflow

from contracts import (
    CATEGORIES,
    CLOSING_ACTIONS,
    PRIORITIES,
    TERMINAL_ACTIONS,
    ReviewAction,
    ReviewDecision,
    ReviewEvent,
    ReviewProposal,
    ReviewReceipt,
    ReviewRequest,
)
from contracts.spam import SPAM_LANE_REASON
from workflows.qa import check_reply

MAX_REVIEW_CHANGES = 20  # accepted decisions, reassignments and escalations per review
MAX_REPLY_CHARS = 5_000
EDIT_FIELDS = ("reply", "category", "priority")
# QA checks a reviewer's reply must pass too: style is the reviewer's call, leaks are not
BLOCKING_QA_CHECKS = ("secret", "pii", "internal_note")


def final_answer(proposal: ReviewProposal, d: ReviewDecision) -> ReviewProposal:
    """The proposal with the decision's corrected fields applied."""
    changes = {f: getattr(d, f) for f in EDIT_FIELDS if getattr(d, f) is not None}
    if "reply" in changes:
        changes["reply"] = changes["reply"].strip()
    return proposal.model_copy(update=changes)


def decision_key(review_id: str, d: ReviewDecision) -> str:
    """The decision id: the tool's, or one derived from everything the decision says, so
    the same submission sent twice is recognised as a duplicate."""
    if d.decision_id:
        return d.decision_id
    body = d.model_dump_json(exclude={"decision_id", "note"})
    return f"{review_id}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def refusal(req: ReviewRequest | None, d: ReviewDecision, changes: int) -> str | None:
    """Why this decision cannot be applied to the pending review, or None when it can."""
    if req is None:
        return "no review is pending for this run"
    if d.review_id is not None and d.review_id != req.review_id:
        return f"wrong review id {d.review_id!r}: the pending review is {req.review_id!r}"
    if d.version is not None and d.version != req.version:
        return (
            f"stale version {d.version}: the review is at version {req.version} "
            "(it was reassigned or escalated since; reload it)"
        )
    if not d.reviewer.strip():
        return "a reviewer is required"
    edits = [f for f in EDIT_FIELDS if getattr(d, f) is not None]
    if SPAM_LANE_REASON in req.reasons and d.action == ReviewAction.EDIT:
        return (
            "a likely-spam review takes spam, approve (not spam: triage it), reject, "
            "escalate or reassign"
        )
    if d.action != ReviewAction.EDIT and edits:
        return f"{d.action.value} takes no corrected fields ({', '.join(edits)}); use edit"
    if d.action == ReviewAction.APPROVE and SPAM_LANE_REASON in req.reasons:
        return None  # not spam: the run goes on through the pipeline
    if d.action == ReviewAction.APPROVE and not req.proposal.reply:
        return "nothing to approve: the AI produced no valid reply; use edit with a reply"
    if d.action == ReviewAction.EDIT:
        return edit_refusal(req, d)
    if d.action == ReviewAction.REJECT and not (d.reason or "").strip():
        return "reject needs a reason"
    if d.action not in TERMINAL_ACTIONS and changes >= MAX_REVIEW_CHANGES:
        return f"this review changed hands {changes} times already; decide it"
    if d.action == ReviewAction.ESCALATE and req.escalated:
        return "the review is already escalated"
    if d.action == ReviewAction.REASSIGN:
        if not (d.assignee or "").strip():
            return "reassign needs an assignee"
        if d.assignee == req.assignee:
            return f"the review is already assigned to {d.assignee}"
    return None


def edit_refusal(req: ReviewRequest, d: ReviewDecision) -> str | None:
    """An edit must validate like the model's own output would."""
    proposal = req.proposal
    if all(getattr(d, f) is None for f in EDIT_FIELDS):
        return "edit needs at least one corrected field: reply, category or priority"
    if d.category is not None and d.category not in CATEGORIES:
        return f"category {d.category!r} is not one of {', '.join(CATEGORIES)}"
    if d.priority is not None and d.priority not in PRIORITIES:
        return f"priority {d.priority!r} is not one of {', '.join(PRIORITIES)}"
    if d.reply is not None:
        reply = d.reply.strip()
        if not reply:
            return "the reply must not be empty"
        if len(reply) > MAX_REPLY_CHARS:
            return f"the reply is {len(reply)} characters; at most {MAX_REPLY_CHARS}"
        if req.ticket is not None:
            qa = check_reply(reply, req.ticket, req.language or "en")
            blocking = [f.message for f in qa.findings if f.check in BLOCKING_QA_CHECKS]
            if blocking:
                return "the reply " + "; ".join(blocking)
    final = final_answer(proposal, d)
    if not final.reply:
        return "edit needs a reply: the AI produced none"
    if final == proposal:
        return "the edit changes nothing; use approve"
    return None


class ReviewGate:
    """One review at a time: open it, take decisions, wait with the SLA."""

    def __init__(self) -> None:
        self.request: ReviewRequest | None = None
        self.decision: ReviewDecision | None = None  # the terminal decision
        self.receipts: dict[str, ReviewReceipt] = {}
        self.changes = 0
        self.closed = False  # the run stopped waiting: decided, or the SLA ran out

    @property
    def pending(self) -> bool:
        return self.request is not None and not self.closed

    def open(self, request: ReviewRequest) -> None:
        self.request = request
        self.event("opened", "aiflow", ", ".join(request.reasons))

    def check(self, d: ReviewDecision) -> str | None:
        """The update validator's question: None accepts (a duplicate is accepted too, and
        answered with its first receipt)."""
        if self.request and decision_key(self.request.review_id, d) in self.receipts:
            return None
        if self.decision is not None:
            return "the review is already decided"
        if self.closed:
            return "the review SLA expired and the run took its safe default"
        return refusal(self.request, d, self.changes)

    def apply(self, d: ReviewDecision) -> ReviewReceipt:
        """Apply a decision that passed `check`; a duplicate returns its first receipt."""
        req = self.request
        assert req is not None
        key = decision_key(req.review_id, d)
        if key in self.receipts:
            return self.receipts[key].model_copy(update={"duplicate": True})
        self.changes += 1
        final = None
        if d.action in TERMINAL_ACTIONS:
            self.decision = d.model_copy(update={"decision_id": key})
            if d.action not in CLOSING_ACTIONS:
                final = final_answer(req.proposal, d)
        elif d.action == ReviewAction.ESCALATE:
            self.escalate(d.reviewer, d.reason or d.note)
        else:
            req.assignee = d.assignee
            self.bump("reassigned", d.reviewer, f"to {d.assignee}")
        receipt = ReviewReceipt(
            review_id=req.review_id,
            decision_id=key,
            action=d.action,
            version=req.version,
            final=final,
        )
        self.receipts[key] = receipt
        return receipt

    def escalate(self, actor: str, detail: str | None, sla_expired: bool = False) -> None:
        req = self.request
        assert req is not None
        req.escalated = True
        self.bump("sla_escalated" if sla_expired else "escalated", actor, detail)

    def bump(self, kind: str, actor: str, detail: str | None) -> None:
        """A change the reviewer's copy must not miss: a new version."""
        assert self.request is not None
        self.request.version += 1
        self.event(kind, actor, detail)

    def event(self, kind: str, actor: str, detail: str | None) -> None:
        assert self.request is not None
        self.request.events.append(
            ReviewEvent(
                at=workflow.now(),
                kind=kind,
                actor=actor,
                version=self.request.version,
                detail=detail,
            )
        )

    async def wait_until(self, deadline: datetime, version: int) -> bool:
        """Wait for a terminal decision or a change of version; False when the deadline
        passed first."""
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None or self.request.version != version,
                timeout=remaining,
                timeout_summary=f"review SLA (v{version}"
                + (", escalated)" if self.request.escalated else ")"),
            )
        except TimeoutError:
            return False
        return True
