"""The review stage of a workflow: open a review, wait for the decision under its SLA,
escalate once, finish with the decision or the safe default; and the handlers reviewers'
tools call. A mixin, so every reference workflow gets the same review behaviour.

The host workflow provides the attributes annotated below and `finish`/`set_stage`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from contracts import (
    CLOSING_ACTIONS,
    Classification,
    Correction,
    Draft,
    NormalizedTicket,
    Notification,
    Outcome,
    QaReport,
    ReviewAction,
    ReviewDecision,
    ReviewProposal,
    ReviewReceipt,
    ReviewRequest,
    RulesVerdict,
    RunConfig,
    Stage,
    StepKind,
    TriageResult,
)
from contracts.spam import SPAM_ROUTE
from workflows import metrics
from workflows.review import ReviewGate, final_answer
from workflows.steps import StepRecorder, notify, persist, publish

REVIEW_OUTCOMES = {
    ReviewAction.APPROVE: Outcome.APPROVED,
    ReviewAction.EDIT: Outcome.EDITED,
    ReviewAction.REJECT: Outcome.REJECTED,
    ReviewAction.SPAM: Outcome.CLOSED,
}


class ReviewStage:
    rec: StepRecorder
    review: ReviewGate
    review_reasons: list[str]
    ticket_id: str
    ticket: NormalizedTicket | None
    verdict: RulesVerdict | None
    classification: Classification | None
    draft: Draft | None
    qa: QaReport | None
    partial_output: str | None

    async def finish(self, outcome: Outcome, route: str, **kw: Any) -> TriageResult:
        raise NotImplementedError

    def set_stage(self, stage: Stage) -> None:
        raise NotImplementedError

    async def review_and_finish(self, cfg: RunConfig, reasons: list[str]) -> TriageResult:
        """7 review, then finalize with the reviewer's decision or the SLA's safe default."""
        route = self.verdict.queue if self.verdict else "general"
        decision = await self.await_review(cfg, reasons, route)
        request = self.review.request
        assert request is not None
        if decision is None:
            reasons = [*reasons, "sla_expired"]
            if cfg.review_safe_default == "reject":
                return await self.finish(
                    Outcome.REJECTED, route, reasons=reasons, review_status="expired"
                )
            return await self.finish(
                Outcome.ESCALATED, "escalations", reasons=reasons, review_status="expired"
            )
        final = None
        if decision.action not in CLOSING_ACTIONS:
            final = final_answer(request.proposal, decision)
            if self.classification is not None:
                self.classification = self.classification.model_copy(
                    update={"category": final.category, "priority": final.priority}
                )
        correction = self.correction_of(decision, final)
        if decision.action == ReviewAction.SPAM:
            route, reasons = SPAM_ROUTE, [*reasons, "reviewer:spam"]
        return await self.finish(
            REVIEW_OUTCOMES[decision.action],
            route,
            reasons=reasons,
            reply=final.reply if final else None,
            priority=final.priority if final else None,
            review_status="decided",
            correction=correction,
        )

    def correction_of(self, decision: ReviewDecision, final: ReviewProposal | None) -> Correction:
        """The decision as feedback data: the proposal beside the final answer."""
        request = self.review.request
        assert request is not None
        return Correction(
            decision_id=decision.decision_id or "",
            review_id=request.review_id,
            action=decision.action,
            reviewer=decision.reviewer,
            reason=decision.reason,
            note=decision.note,
            requested_at=request.requested_at,
            decided_at=workflow.now(),
            proposal=request.proposal,
            final=final,
            confidence=request.confidence,
            prompt_versions=request.prompt_versions,
            models=request.models,
            escalated=request.escalated,
        )

    async def await_review(
        self, cfg: RunConfig, reasons: list[str], route: str
    ) -> ReviewDecision | None:
        """Open the review and wait: SLA → escalate once (notice + second SLA) → None."""
        self.set_stage(Stage.REVIEW)
        self.review_reasons = reasons
        request = self.review_request(cfg, reasons, route)
        self.review.open(request)
        metrics.review_opened(reasons)
        publish(Stage.REVIEW, needs_review=True, cost_usd=self.rec.cost_usd, route=route)
        self.show_review(request)
        await self.save_review("pending")
        started = workflow.now()
        escalation_sla = timedelta(
            seconds=cfg.review_escalation_sla_seconds or cfg.review_sla_seconds
        )
        deadline, escalated, seen = request.sla_deadline, False, request.version
        while self.review.decision is None:
            in_time = await self.review.wait_until(deadline, seen)
            if self.review.decision is not None:
                break
            if not in_time:
                if escalated:
                    break  # the second SLA expired too: take the safe default
                self.review.escalate("aiflow", "review SLA expired", sla_expired=True)
            if request.escalated and not escalated:  # by the SLA or by a reviewer
                escalated = True
                metrics.review_escalated("reviewer" if in_time else "sla")
                deadline = request.sla_deadline = workflow.now() + escalation_sla
                await self.notify_escalation(request)
            seen = request.version
            self.show_review(request)
            await self.save_review("pending")
        self.review.closed = True
        decision = self.review.decision
        metrics.review_closed(
            decision.action.value if decision else "sla_expired",
            (workflow.now() - request.requested_at).total_seconds(),
        )
        self.rec.add(
            "review",
            StepKind.HUMAN,
            started,
            decision.action.value if decision else f"sla_expired:{cfg.review_safe_default}",
            reasoning=decision.note if decision else None,
            details={
                "review_id": request.review_id,
                "version": request.version,
                "escalated": request.escalated,
                **(
                    {
                        "reviewer": decision.reviewer,
                        "decision_id": decision.decision_id,
                        "reason": decision.reason,
                    }
                    if decision
                    else {"sla_seconds": cfg.review_sla_seconds}
                ),
            },
        )
        return decision

    def review_request(self, cfg: RunConfig, reasons: list[str], route: str) -> ReviewRequest:
        info = workflow.info()
        now = workflow.now()
        c, models = self.classification, self.rec.records
        return ReviewRequest(
            review_id=f"rv-{workflow.uuid4().hex[:12]}",
            version=1,
            workflow_id=info.workflow_id,
            ticket_id=self.ticket_id,
            queue=route,
            ticket=self.ticket,
            proposal=ReviewProposal(
                category=c.category if c else None,
                priority=(self.verdict.priority if self.verdict else None)
                or (c.priority if c else None),
                reply=self.draft.reply if self.draft and self.partial_output is None else None,
            ),
            confidence=c.confidence if c else None,
            language=(c.language if c else None) or (self.ticket.language if self.ticket else None),
            reasoning=c.reasoning if c else None,
            reasons=reasons,
            qa_findings=self.qa.findings if self.qa else [],
            partial_output=self.partial_output,
            cost_usd=self.rec.cost_usd,
            prompt_versions=sorted({r.prompt_version for r in models if r.prompt_version}),
            models=sorted({r.model for r in models if r.model}),
            requested_at=now,
            sla_deadline=now + timedelta(seconds=cfg.review_sla_seconds),
        )

    def show_review(self, request: ReviewRequest) -> None:
        c = self.classification
        workflow.set_current_details(
            f"**Awaiting review** (v{request.version}"
            f"{', escalated' if request.escalated else ''}) — {', '.join(request.reasons)}\n\n"
            f"category `{c.category if c else '-'}`, "
            f"confidence {c.confidence if c else 0:.2f}, "
            f"due {request.sla_deadline:%Y-%m-%d %H:%M} UTC"
            + (f", assigned to {request.assignee}" if request.assignee else "")
        )

    async def save_review(self, status: str) -> None:
        await persist(
            Stage.REVIEW,
            self.ticket_id,
            self.rec,
            review_reasons=self.review_reasons,
            review=self.review.request,
            review_status=status,
        )

    async def notify_escalation(self, request: ReviewRequest) -> None:
        """Best effort: a notice that cannot be delivered is logged, not fatal."""
        last = request.events[-1]
        await notify(
            Notification(
                key=f"{request.workflow_id}:escalated:{request.review_id}",
                kind="review_escalated",
                workflow_id=request.workflow_id,
                ticket_id=request.ticket_id,
                message=f"Review of ticket {request.ticket_id} escalated by {last.actor}"
                f" ({last.detail or last.kind}); new deadline "
                f"{request.sla_deadline:%Y-%m-%d %H:%M} UTC. Reasons: "
                + ", ".join(request.reasons),
            )
        )

    # --- handlers --------------------------------------------------------------------

    @workflow.update(name="submit_review")
    def submit_review(self, decision: ReviewDecision) -> ReviewReceipt:
        return self.review.apply(decision)

    @submit_review.validator
    def validate_review(self, decision: ReviewDecision) -> None:
        """Runs before the update reaches history: a refused decision leaves no trace."""
        why = self.review.check(decision)
        if why is not None:
            raise ApplicationError(why, type="ReviewRefused", non_retryable=True)

    @workflow.signal(name="review_decision")
    def review_decision(self, decision: ReviewDecision) -> None:
        """The same decision, fire-and-forget: accepted while no worker runs; an invalid
        one is logged and dropped (a signal cannot answer)."""
        why = self.review.check(decision)
        if why is not None:
            workflow.logger.warning("review signal ignored: %s", why)
            return
        self.review.apply(decision)

    @workflow.query(name="pending_review")
    def pending_review(self) -> ReviewRequest | None:
        return self.review.request if self.review.pending else None
