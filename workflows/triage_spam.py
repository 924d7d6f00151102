"""Spam detection in triage, a mixin of TriageWorkflow: the learned model beside the rules.

    rules → spam model → (close | likely-spam review | on through the pipeline)

Only the model closes unseen, at or above its calibrated bar (held-out legitimate mail
closed <= 0.5 %: data/spam/model.json). A spam rule alone no longer closes: the ticket goes
to the likely-spam lane, as does anything between the model's two bars. That lane is cheap:
no model call is made before a person looks; `spam` closes the ticket, `approve` ("not
spam") sends it on through the pipeline, `reject` closes it with a reason; if its SLA runs
out, the ticket goes on through the pipeline too (never closed unseen). Each decision is
feedback: spam / not spam examples for the next training run (`aiflow feedback spam`).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from contracts import (
    NormalizedTicket,
    Outcome,
    ReviewAction,
    RuleMatch,
    RulesVerdict,
    RunConfig,
    Stage,
    StepKind,
    TriageResult,
)
from contracts.spam import (
    SPAM_LANE_REASON,
    SPAM_REVIEW_ROUTE,
    SPAM_ROUTE,
    SpamCheck,
    SpamVerdict,
)
from workflows.policies import SPAM_LOCAL_ACTIVITY
from workflows.review import ReviewGate
from workflows.steps import StepRecorder, persist

with workflow.unsafe.imports_passed_through():
    from activities.spam import SpamActivities

SPAM_REASON = "spam"  # what a spam rule's action names as its outcome_reason
# metadata keys of an e-mail ticket (starter/mail.py) that are headers to the model
HEADER_KEYS = {
    "list_unsubscribe": "list-unsubscribe",
    "list_id": "list-id",
    "precedence": "precedence",
    "reply_to": "reply-to",
    "x_priority": "x-priority",
    "to": "to",
}


def spam_headers(ticket: NormalizedTicket) -> dict[str, str]:
    heads = {h: ticket.metadata[k] for k, h in HEADER_KEYS.items() if k in ticket.metadata}
    if ticket.metadata.get("html_only") == "yes":
        heads["content-type"] = "text/html"
    return heads


class TriageSpamSteps:
    """Needs the host's `finish` and ReviewStage's `await_review` / `correction_of`
    (placed after ReviewStage in the host's bases, so it shadows neither)."""

    rec: StepRecorder
    review: ReviewGate
    ticket_id: str
    review_reasons: list[str]

    async def spam_gate(
        self, cfg: RunConfig, ticket: NormalizedTicket, verdict: RulesVerdict
    ) -> tuple[TriageResult | None, RuleMatch | None]:
        """(the finished result when spam handling ended the run, the rule close that
        still applies). Off in the run's config: (None, the rules' close), as before."""
        close = verdict.close
        if not cfg.spam.enabled:
            return None, close
        spam = await self.spam_score(ticket)
        by_rule = (
            close if close is not None and close.action.outcome_reason == SPAM_REASON else None
        )
        if spam is not None and spam.lane == "close" and (close is None or by_rule):
            reasons = [f"spam_model:{spam.p_spam:.4f}"] + (
                [f"rule:{by_rule.rule_id}"] if by_rule else []
            )
            return await self.finish(Outcome.CLOSED, SPAM_ROUTE, reasons=reasons), None
        if by_rule is None and (spam is None or spam.lane != "likely_spam"):
            return None, close
        reasons = [SPAM_LANE_REASON] + ([f"rule:{by_rule.rule_id}"] if by_rule else [])
        return await self.spam_review(cfg, reasons), None

    async def spam_score(self, ticket: NormalizedTicket) -> SpamVerdict | None:
        started = workflow.now()
        try:
            v = await workflow.execute_local_activity_method(
                SpamActivities.spam_score,
                SpamCheck(
                    subject=ticket.subject,
                    body=ticket.body,
                    sender=ticket.customer_email,
                    headers=spam_headers(ticket),
                ),
                summary="spam score",
                **SPAM_LOCAL_ACTIVITY,
            )
        except ActivityError as err:  # no verdict: the pipeline and its reviewers decide
            self.rec.add("spam", StepKind.CODE, started, "unavailable", reasoning=str(err)[:300])
            return None
        self.rec.add(
            "spam",
            StepKind.CODE,
            started,
            v.lane,
            confidence=v.p_spam,
            details={
                "p_spam": v.p_spam,
                "close_bar": v.close_bar,
                "likely_bar": v.likely_bar,
                "model_version": v.model_version,
                "evidence": v.reasons,
            },
        )
        return v

    async def spam_review(self, cfg: RunConfig, reasons: list[str]) -> TriageResult | None:
        """The likely-spam lane: the finished result, or None to go on (not spam, or the
        SLA ran out: a ticket is never closed unseen)."""
        decision = await self.await_review(cfg, reasons, SPAM_REVIEW_ROUTE)
        if decision is None:
            self.rec.add("spam", StepKind.CODE, workflow.now(), "review_expired:triage")
        elif decision.action == ReviewAction.SPAM:
            return await self.finish(
                Outcome.CLOSED,
                SPAM_ROUTE,
                reasons=[*reasons, "reviewer:spam"],
                review_status="decided",
                correction=self.correction_of(decision, None),
            )
        elif decision.action == ReviewAction.REJECT:
            return await self.finish(
                Outcome.REJECTED,
                SPAM_REVIEW_ROUTE,
                reasons=reasons,
                review_status="decided",
                correction=self.correction_of(decision, None),
            )
        else:  # approve: not spam. The decision is kept as a not-spam example.
            await persist(
                Stage.REVIEW,
                self.ticket_id,
                self.rec,
                review_reasons=reasons,
                review=self.review.request,
                review_status="decided",
                correction=self.correction_of(decision, None),
            )
        # a later review of this run is a new one; resent decisions still get receipts
        gate = ReviewGate()
        gate.receipts = self.review.receipts
        self.review = gate
        self.review_reasons = []
        return None
