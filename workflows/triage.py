"""The reference workflow: support-ticket triage through the layered pipeline.

intake → rules → classify → draft ⇄ qa → decide → (review) → finalize. Deterministic
steps are plain code here; model calls are activities on the model queue; the store is
written by local activities. Any unexpected exception fails the run instead of
retrying its workflow task forever.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from contracts import (
    Classification,
    ConfigInput,
    Draft,
    NormalizedTicket,
    Outcome,
    QaReport,
    Rejection,
    ReviewAction,
    ReviewDecision,
    RulesVerdict,
    RunConfig,
    RunState,
    Stage,
    StepKind,
    TriageInput,
    TriageResult,
)
from workflows.intake import validate_ticket
from workflows.model_step import ModelStepFailed, RunBudget, run_model_step
from workflows.policies import CONFIG_LOCAL_ACTIVITY
from workflows.qa import check_reply, feedback_lines
from workflows.rules import evaluate_rules
from workflows.steps import ReviewGate, StepRecorder, persist, publish

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities

CLASSIFY_MAX_TOKENS = 200
DRAFT_MAX_TOKENS = 600
REVIEW_OUTCOMES = {
    ReviewAction.APPROVE: Outcome.APPROVED,
    ReviewAction.EDIT: Outcome.EDITED,
    ReviewAction.REJECT: Outcome.REJECTED,
}


@workflow.defn(name="TicketTriage", failure_exception_types=[Exception])
class TriageWorkflow:
    def __init__(self) -> None:
        self.rec = StepRecorder()
        self.review = ReviewGate()
        self.stage = Stage.INTAKE
        self.ticket_id = ""
        self.ticket: NormalizedTicket | None = None
        self.verdict: RulesVerdict | None = None
        self.classification: Classification | None = None
        self.draft: Draft | None = None
        self.qa: QaReport | None = None
        self.review_reasons: list[str] = []
        self.result: TriageResult | None = None
        self.budget = RunBudget(None)
        self.partial_output: str | None = None  # a model answer that never validated

    # --- the run ---------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: TriageInput) -> TriageResult:
        self.ticket_id = inp.ticket.ticket_id
        cfg = await workflow.execute_local_activity_method(
            PipelineActivities.resolve_run_config,
            ConfigInput(workflow_id=workflow.info().workflow_id),
            summary="resolve run config",
            **CONFIG_LOCAL_ACTIVITY,
        )

        # 1 intake
        started = workflow.now()
        ticket, rejections = validate_ticket(inp.ticket, cfg.max_body_chars)
        codes = [r.code for r in rejections]
        self.rec.add(
            "intake",
            StepKind.CODE,
            started,
            "rejected" if rejections else "ok",
            details={"rejections": codes} if codes else {},
        )
        if ticket is None:
            return await self.finish(
                Outcome.REJECTED, "rejected", rejections=rejections, reasons=codes
            )
        self.ticket = ticket

        # 2 rules
        self.set_stage(Stage.RULES)
        started = workflow.now()
        verdict = self.verdict = evaluate_rules(cfg.rules, ticket)
        close = verdict.close
        self.rec.add(
            "rules",
            StepKind.RULE,
            started,
            f"close:{close.action.outcome_reason}" if close else f"route:{verdict.queue}",
            details={
                "rules_version": cfg.rules.version,
                "matched": [m.rule_id for m in verdict.matches],
            },
        )
        if close is not None:
            return await self.finish(
                Outcome.CLOSED,
                close.action.queue or close.action.outcome_reason or "closed",
                reasons=[f"rule:{close.rule_id}"],
                reply=close.action.reply,
            )

        self.budget = RunBudget(cfg.run_budget_usd, cfg.budget_degrade_ratio)
        reasons = list(verdict.review_reasons)
        try:
            classification = await self.classify(cfg, ticket)
            draft, qa = await self.draft_with_qa(cfg, ticket, classification)
        except ModelStepFailed as err:
            if err.kind == "error":
                return await self.finish(
                    Outcome.FAILED,
                    verdict.queue,
                    error=str(err),
                    reasons=[f"model_error:{err.step}"],
                )
            # Over budget, or no model produced valid output: a person finishes the job,
            # with the partial answer attached.
            self.partial_output = err.partial
            return await self.review_and_finish(cfg, [*reasons, f"{err.kind}:{err.step}"])

        # 6 decide
        self.set_stage(Stage.DECIDE)
        started = workflow.now()
        if classification.confidence < cfg.auto_resolve_confidence:
            reasons.append("low_confidence")
        if not qa.passed:
            reasons.append("qa_failed")
        self.rec.add(
            "decide",
            StepKind.CODE,
            started,
            "review" if reasons else "auto",
            confidence=classification.confidence,
            details={"threshold": cfg.auto_resolve_confidence, "reasons": reasons},
        )
        if not reasons:
            return await self.finish(Outcome.RESOLVED, verdict.queue, reply=draft.reply)
        return await self.review_and_finish(cfg, reasons)

    # --- steps -----------------------------------------------------------------------

    async def classify(self, cfg: RunConfig, ticket: NormalizedTicket) -> Classification:
        self.set_stage(Stage.CLASSIFY)
        publish(Stage.CLASSIFY)
        c, _ = await run_model_step(
            self.rec,
            self.budget,
            "classify",
            chain=cfg.models["classify"],
            prompt=cfg.prompts["triage.classify"],
            variables={
                "subject": ticket.subject,
                "body": ticket.body,
                "language_hint": ticket.language,
                "customer_tier": ticket.customer_tier,
                "channel": ticket.channel,
            },
            schema=Classification,
            max_output_tokens=CLASSIFY_MAX_TOKENS,
            summary=f"classify ticket {ticket.ticket_id}",
            step_cap_usd=cfg.step_budgets_usd.get("classify"),
        )
        self.classification = c
        return c

    async def draft_with_qa(
        self, cfg: RunConfig, ticket: NormalizedTicket, c: Classification
    ) -> tuple[Draft, QaReport]:
        """Draft, check, and regenerate with the QA findings at most N times."""
        feedback: list[str] = []
        publish(Stage.DRAFT, category=c.category)
        for attempt in range(1, cfg.max_qa_regenerations + 2):
            self.set_stage(Stage.DRAFT)
            draft, _ = await run_model_step(
                self.rec,
                self.budget,
                "draft",
                chain=cfg.models["draft"],
                prompt=cfg.prompts["triage.draft"],
                variables={
                    "subject": ticket.subject,
                    "body": ticket.body,
                    "customer_name": ticket.customer_name,
                    "category": c.category,
                    "priority": c.priority,
                    "language": c.language,
                    "ticket_id": ticket.ticket_id,
                    "qa_feedback": feedback,
                    "attempt": attempt,
                },
                schema=Draft,
                max_output_tokens=DRAFT_MAX_TOKENS,
                summary=f"draft reply #{attempt}",
                key=f"draft#{attempt}",
                step_cap_usd=cfg.step_budgets_usd.get("draft"),
            )
            self.draft = draft
            self.set_stage(Stage.QA)
            started = workflow.now()
            qa = self.qa = check_reply(draft.reply, ticket, c.language)
            self.rec.add(
                "qa",
                StepKind.QA,
                started,
                "pass" if qa.passed else "fail",
                details={"findings": [f.check for f in qa.findings], "draft_attempt": attempt},
            )
            if qa.passed:
                break
            if self.budget.degraded:  # regenerating is optional: a reviewer fixes it instead
                self.rec.add("qa", StepKind.QA, workflow.now(), "regeneration_skipped:budget")
                break
            feedback = feedback_lines(qa)
        return draft, qa

    async def review_and_finish(self, cfg: RunConfig, reasons: list[str]) -> TriageResult:
        """7 review, then finalize with the reviewer's decision (or escalate on SLA)."""
        route = self.verdict.queue if self.verdict else "general"
        decision = await self.await_review(cfg, reasons)
        if decision is None:
            return await self.finish(Outcome.ESCALATED, "escalations", reasons=reasons)
        reply = self.draft.reply if self.draft else None
        if decision.action == ReviewAction.EDIT:
            reply = decision.reply
        elif decision.action == ReviewAction.REJECT:
            reply = None
        if decision.category and self.classification:
            self.classification = self.classification.model_copy(
                update={"category": decision.category}
            )
        return await self.finish(
            REVIEW_OUTCOMES[decision.action], route, reasons=reasons, reply=reply
        )

    async def await_review(self, cfg: RunConfig, reasons: list[str]) -> ReviewDecision | None:
        self.set_stage(Stage.REVIEW)
        self.review_reasons = reasons
        publish(Stage.REVIEW, needs_review=True, cost_usd=self.rec.cost_usd)
        workflow.set_current_details(
            f"**Awaiting review** — {', '.join(reasons)}\n\n"
            f"category `{self.classification.category if self.classification else '-'}`, "
            f"confidence {self.classification.confidence if self.classification else 0:.2f}"
        )
        await persist(Stage.REVIEW, self.ticket_id, self.rec, review_reasons=reasons)
        started = workflow.now()
        decision = await self.review.wait(timedelta(seconds=cfg.review_sla_seconds))
        if decision is None:
            self.rec.add(
                "review",
                StepKind.HUMAN,
                started,
                "sla_expired",
                details={"sla_seconds": cfg.review_sla_seconds},
            )
        else:
            self.rec.add(
                "review",
                StepKind.HUMAN,
                started,
                decision.action.value,
                reasoning=decision.note,
                details={"reviewer": decision.reviewer, "category": decision.category}
                if decision.category
                else {"reviewer": decision.reviewer},
            )
        return decision

    async def finish(
        self,
        outcome: Outcome,
        route: str,
        *,
        reasons: list[str] | None = None,
        rejections: list[Rejection] | None = None,
        reply: str | None = None,
        error: str | None = None,
    ) -> TriageResult:
        """8 finalize: build the result, persist it, publish it."""
        self.set_stage(Stage.FINALIZE)
        info = workflow.info()
        c = self.classification
        started = workflow.now()
        result = TriageResult(
            workflow_id=info.workflow_id,
            ticket_id=self.ticket_id,
            outcome=outcome,
            route=route,
            category=c.category if c else None,
            priority=(
                self.verdict.priority
                if self.verdict and self.verdict.priority
                else c.priority
                if c
                else None
            ),
            confidence=c.confidence if c else None,
            reply=reply,
            rejections=rejections or [],
            reasons=reasons or [],
            error=error,
            cost_usd=self.rec.cost_usd,
            model_calls=self.rec.model_calls,
        )
        self.rec.add("finalize", StepKind.CODE, started, outcome.value)
        result.latency_ms = round((workflow.now() - info.start_time).total_seconds() * 1000, 3)
        result.steps = list(self.rec.records)
        await persist(Stage.DONE, self.ticket_id, self.rec, result=result)
        self.stage = Stage.DONE
        self.result = result
        publish(
            Stage.DONE,
            outcome=outcome.value,
            route=route,
            needs_review=False,
            cost_usd=result.cost_usd,
            category=result.category,
        )
        workflow.set_current_details(f"**{outcome.value}** → `{route}`")
        return result

    def set_stage(self, stage: Stage) -> None:
        """The stage the status query shows. Search attributes are upserted only where the
        run is about to wait (one history event each), not at every in-task step."""
        self.stage = stage

    # --- handlers --------------------------------------------------------------------

    @workflow.signal(name="submit_review")
    def submit_review(self, decision: ReviewDecision) -> None:
        self.review.submit(decision)

    @workflow.query(name="status")
    def status(self) -> RunState:
        return RunState(
            workflow_id=workflow.info().workflow_id,
            ticket_id=self.ticket_id,
            stage=self.stage,
            route=self.result.route
            if self.result
            else self.verdict.queue
            if self.verdict
            else None,
            needs_review=self.review.pending,
            review_reasons=self.review_reasons,
            ticket=self.ticket,
            classification=self.classification,
            draft=self.draft,
            qa=self.qa,
            partial_output=self.partial_output,
            steps=self.rec.records,
            cost_usd=self.rec.cost_usd,
            result=self.result,
        )
