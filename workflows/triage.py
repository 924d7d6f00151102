"""The reference workflow: support-ticket triage through the layered pipeline.

intake → rules → classify → draft ⇄ qa → decide → (review) → finalize. Deterministic
steps are plain code here; model calls are activities on the model queue; the store is
written by local activities. A model that cannot answer never fails the run: the step
waits for it, falls back or hands the ticket to a person (workflows/degrade.py).
"""

from __future__ import annotations

from temporalio import workflow

from contracts import (
    Classification,
    ConfigInput,
    Correction,
    Draft,
    NormalizedTicket,
    Outcome,
    QaReport,
    Rejection,
    RulesVerdict,
    RunConfig,
    RunState,
    Stage,
    StepKind,
    TriageInput,
    TriageResult,
)
from decisions.rules import evaluate_rules
from workflows import metrics
from workflows.answer_cache import ItemCache, saved_usd
from workflows.degrade import ModelWaitHandlers, ModelWaits
from workflows.drift import record_run_features
from workflows.guard import content_flags
from workflows.intake import validate_ticket
from workflows.ladder import cascade_step, low_confidence, run_tier
from workflows.model_step import ModelStepFailed, RunBudget
from workflows.policies import CONFIG_LOCAL_ACTIVITY
from workflows.qa import check_reply, feedback_lines
from workflows.registry import WorkflowSpec
from workflows.review import ReviewGate
from workflows.review_stage import ReviewStage
from workflows.steps import StepRecorder, persist, publish
from workflows.triage_cache import TriageCacheSteps
from workflows.triage_spam import TriageSpamSteps

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities

SUSPICIOUS_CONTENT = "suspicious_content"
TICKET_ID_PREFIX = "ticket-"
CLASSIFY_MAX_TOKENS = 200
DRAFT_MAX_TOKENS = 600


@workflow.defn(name="TicketTriage", failure_exception_types=[Exception])
class TriageWorkflow(TriageCacheSteps, ReviewStage, TriageSpamSteps, ModelWaitHandlers):
    def __init__(self) -> None:
        self.rec = StepRecorder()
        self.review = ReviewGate()
        self.waits = ModelWaits()
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
        self.cache: ItemCache | None = None  # when the run's config enables the cache
        self.settled: dict[str, str] = {}  # model step -> the tier that settled it
        self.layered = False  # the run's config has the cache or the cascade on

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
        self.rec.start(cfg.latency_budgets_ms, workflow.info().start_time)
        self.layered = cfg.cache.enabled or bool(cfg.cascade)

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
            metrics.rejected(codes)
            return await self.finish(
                Outcome.REJECTED, "rejected", rejections=rejections, reasons=codes
            )
        self.ticket = ticket
        await record_run_features(ticket)  # shapes for drift checks, never text

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
        ended, close = await self.spam_gate(cfg, ticket, verdict)
        if ended is not None:
            return ended
        if close is not None:
            metrics.rule_exit(close.rule_id, close.action.outcome_reason or "closed")
            return await self.finish(
                Outcome.CLOSED,
                close.action.queue or close.action.outcome_reason or "closed",
                reasons=[f"rule:{close.rule_id}"],
                reply=close.action.reply,
            )

        self.budget = RunBudget(cfg.run_budget_usd, cfg.budget_degrade_ratio)
        reasons = list(verdict.review_reasons)
        # Text a model could take as instructions or data (embedded JSON, markup, code, SQL,
        # injection phrasing) must never buy an auto-resolve: a person sees it.
        started = workflow.now()
        flags = content_flags(ticket.subject, ticket.body, extra=[ticket.customer_name or ""])
        if flags:
            self.rec.add(
                "guard",
                StepKind.RULE,
                started,
                "flagged",
                details={"flags": [f.code for f in flags], "evidence": [f.evidence for f in flags]},
            )
            reasons.append(SUSPICIOUS_CONTENT)
        elif cfg.cache.enabled:  # flagged text is neither served from nor written to it
            self.cache = ItemCache(cfg.cache, ticket, cfg.rules.version)
        try:
            classification = await self.classify(cfg, ticket)
            draft, qa = await self.draft_with_qa(cfg, ticket, classification)
        except ModelStepFailed as err:
            # No model could answer (down past its window, misconfigured, over budget, no
            # valid output, a refused request): a person finishes the job, with whatever
            # partial answer there is attached.
            self.partial_output = err.partial
            return await self.review_and_finish(cfg, [*reasons, f"{err.kind}:{err.step}"])

        # 6 decide
        self.set_stage(Stage.DECIDE)
        started = workflow.now()
        # The confidence that routes: the model's, unless the text was flagged, when the
        # model's self-report is worth nothing (the text may have dictated it) and the
        # suspicious_content reason already sends the ticket to a person.
        routing = 0.0 if flags else classification.confidence
        if not flags and routing < cfg.auto_resolve_confidence:
            reasons.append("low_confidence")
        if not qa.passed:
            reasons.append("qa_failed")
        self.rec.add(
            "decide",
            StepKind.CODE,
            started,
            "review" if reasons else "auto",
            confidence=classification.confidence,
            details={
                "threshold": cfg.auto_resolve_confidence,
                "reasons": reasons,
                **({"routing_confidence": routing} if flags else {}),
            },
        )
        if not reasons:
            return await self.finish(Outcome.RESOLVED, verdict.queue, reply=draft.reply)
        return await self.review_and_finish(cfg, reasons)

    # --- steps -----------------------------------------------------------------------

    async def classify(self, cfg: RunConfig, ticket: NormalizedTicket) -> Classification:
        """3 cache → 4 small model → large model: the first tier good enough settles it."""
        self.set_stage(Stage.CLASSIFY)
        # the route is known from here on: ops filter waiting runs by it (AiflowRoute)
        publish(Stage.CLASSIFY, route=self.verdict.queue if self.verdict else None)
        variables = {
            "subject": ticket.subject,
            "body": ticket.body,
            "language_hint": ticket.language,
            "customer_tier": ticket.customer_tier,
            "channel": ticket.channel,
        }
        prompt, small = cfg.prompts["triage.classify"], cfg.cascade.get("classify")
        chain = cfg.models["classify"]
        if self.cache is not None:
            inputs = {k: variables[k] for k in ("language_hint", "customer_tier", "channel")}
            k = self.cache.key(
                "classify",
                prompt,
                Classification,
                [*(small.chain if small else []), *chain],
                inputs,
            )
            first = (small.chain if small else chain)[0]
            c = await self.cache.serve(
                self.rec,
                k,
                Classification,
                cost_of=lambda out: saved_usd(first, variables, out),
                defaults={"confidence": cfg.cache.hit_confidence, "reasoning": "cached answer"},
            )
            if c is not None:
                self.settled["classify"] = self.cache.served["classify"].tier
                self.classification = c
                return c
        c, tier = await cascade_step(
            self.rec,
            self.budget,
            "classify",
            small=small,
            chain=chain,
            escalate_if=low_confidence(small.min_confidence if small else None),
            prompt=prompt,
            variables=variables,
            schema=Classification,
            max_output_tokens=CLASSIFY_MAX_TOKENS,
            summary=f"classify ticket {ticket.ticket_id}",
            step_cap_usd=cfg.step_budgets_usd.get("classify"),
            degradation=cfg.degradation_for("classify"),
            waits=self.waits,
            stage=Stage.CLASSIFY,
        )
        self.settled["classify"] = tier
        self.classification = c
        return c

    async def draft_with_qa(
        self, cfg: RunConfig, ticket: NormalizedTicket, c: Classification
    ) -> tuple[Draft, QaReport]:
        """Draft, check, and regenerate with the QA findings at most N times."""
        feedback: list[str] = []
        publish(Stage.DRAFT, category=c.category)
        prompt, small = cfg.prompts["triage.draft"], cfg.cascade.get("draft")
        chain = cfg.models["draft"]
        if self.cache is not None:
            served = await self.cached_draft(
                cfg, ticket, c, [*(small.chain if small else []), *chain]
            )
            if served is not None:
                return served
        for attempt in range(1, cfg.max_qa_regenerations + 2):
            self.set_stage(Stage.DRAFT)
            draft, tier = await cascade_step(
                self.rec,
                self.budget,
                "draft",
                # the small drafter has one go; a QA failure escalates the rewrite
                small=small if attempt == 1 else None,
                chain=chain,
                prompt=prompt,
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
                degradation=cfg.degradation_for("draft"),
                waits=self.waits,
                stage=Stage.DRAFT,
            )
            self.settled["draft"] = tier
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
            if small is not None and attempt == 1 and tier == "small":
                self.rec.add(
                    "draft",
                    StepKind.CODE,
                    workflow.now(),
                    "escalated",
                    details={"reason": "qa_failed"},
                )
        return draft, qa

    async def finish(
        self,
        outcome: Outcome,
        route: str,
        *,
        reasons: list[str] | None = None,
        rejections: list[Rejection] | None = None,
        reply: str | None = None,
        error: str | None = None,
        priority: str | None = None,
        review_status: str | None = None,
        correction: Correction | None = None,
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
            priority=priority
            or (
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
        result.latency_ms = round((workflow.now() - info.start_time).total_seconds() * 1000, 3)
        waited = sum(r.latency_ms for r in self.rec.records if r.kind == StepKind.HUMAN)
        decision_ms = round(result.latency_ms - waited, 3)
        run_budget = self.rec.budgets_ms.get("run")
        timing: dict = {"decision_latency_ms": decision_ms}
        if run_budget is not None:
            timing |= {"run_budget_ms": run_budget, "run_over_budget": decision_ms > run_budget}
        # the tier is published only by runs on the layered config: older ones replay as ran
        tier = None
        if self.layered:
            reviewed = correction is not None or review_status is not None
            tier = "human" if reviewed else run_tier(self.settled)
            timing |= {"tier": tier, "settled": dict(self.settled)}
            metrics.run_tier(tier, self.settled, self.rec.cost_usd)
        self.rec.add("finalize", StepKind.CODE, started, outcome.value, details=timing)
        metrics.run_finished(
            outcome.value, route, self.rec.cost_usd, decision_ms, timing.get("run_over_budget")
        )
        result.steps = list(self.rec.records)
        if self.cache is not None:
            await self.learn(outcome, correction)
        await persist(
            Stage.DONE,
            self.ticket_id,
            self.rec,
            result=result,
            review_reasons=self.review_reasons if review_status else None,
            review=self.review.request if review_status else None,
            review_status=review_status,
            correction=correction,
        )
        self.stage = Stage.DONE
        self.result = result
        publish(
            Stage.DONE,
            outcome=outcome.value,
            route=route,
            needs_review=False,
            cost_usd=result.cost_usd,
            category=result.category,
            tier=tier,
        )
        workflow.set_current_details(f"**{outcome.value}** → `{route}`")
        return result

    def set_stage(self, stage: Stage) -> None:
        """The stage the status query shows. Search attributes are upserted only where the
        run is about to wait (one history event each), not at every in-task step."""
        self.stage = stage

    # --- handlers --------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> RunState:
        return RunState(
            workflow_id=workflow.info().workflow_id,
            ticket_id=self.ticket_id,
            stage=self.waits.stage or self.stage,
            route=self.result.route
            if self.result
            else self.review.request.queue  # the review's route (spam-review, ...)
            if self.review.pending and self.review.request
            else self.verdict.queue
            if self.verdict
            else None,
            needs_review=self.review.pending,
            review=self.review.request,
            review_reasons=self.review_reasons,
            ticket=self.ticket,
            classification=self.classification,
            draft=self.draft,
            qa=self.qa,
            partial_output=self.partial_output,
            steps=self.rec.records,
            cost_usd=self.rec.cost_usd,
            deadline_at=self.rec.deadline,
            result=self.result,
            model_wait=self.waits.current,
        )


SPEC = WorkflowSpec(
    name="tickets",
    workflow=TriageWorkflow,
    id_prefix=TICKET_ID_PREFIX,
    summary="support-ticket triage: intake, rules, classify, draft with QA, review",
    input_help="a .json ticket (or list), a .jsonl file of tickets, .eml e-mails or a folder",
    reader="starter.submit:ticket_items",
    step_models={"classify": "offline-classify", "draft": "offline-draft"},
    output_schemas={"Classification": Classification, "Draft": Draft},
)
