"""Reference workflow 3: content generation from a business brief, with an agentic QA loop.

intake → brief (small model: brief → writing instructions) → generate ⇄ QA (deterministic
checks, then a judge model scoring against the brief; a failure regenerates with the
findings, bounded) → decide → (field review) → finalize. A model that cannot answer never
fails the item: without the brief step the instructions are derived in code, without the
writer a template is built from the facts, without the judge a person scores it; content
that makes high-stakes claims (legal, guarantees, prices) always goes to a person.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from temporalio import workflow

from contracts import ConfigInput, RunConfig, Stage, StepKind
from contracts.generation import (
    GENERATION_OUTPUTS,
    AttemptSummary,
    Brief,
    GeneratedContent,
    GenerationInput,
    GenerationOutcome,
    GenerationPrompt,
    GenerationResult,
    GenerationStatus,
    JudgeVerdict,
)
from contracts.items import FieldAction, FieldReviewOutcome, ItemRecord
from decisions.generation_checks import (
    check_content,
    feedback_lines,
    high_stakes,
    prompt_from_brief,
    template_content,
    word_count,
)
from workflows.degrade import ModelWaitHandlers, ModelWaits
from workflows.field_review import FieldReviewGate, FieldReviewHandlers
from workflows.model_step import ModelStepFailed, RunBudget, run_model_step
from workflows.policies import CONFIG_LOCAL_ACTIVITY
from workflows.registry import WorkflowSpec
from workflows.steps import StepRecorder, item_record, persist_item, publish

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities

BRIEF_MAX_TOKENS = 600
WRITE_MAX_TOKENS = 1_500  # MAX_WORDS_CAP words and a title, with room for JSON
JUDGE_MAX_TOKENS = 800
SOURCE_CHARS = 4_000  # of the brief shown beside a review

OUTCOME_OF_ACTION = {
    FieldAction.APPROVE: GenerationOutcome.APPROVED,
    FieldAction.CORRECT: GenerationOutcome.EDITED,
    FieldAction.REJECT: GenerationOutcome.REJECTED,
}


def brief_variables(brief: Brief) -> dict[str, Any]:
    """The brief as prompt variables (facts as JSON text, readable by any model)."""
    return {
        **brief.model_dump(exclude={"facts"}),
        "facts_json": json.dumps(brief.facts, ensure_ascii=False),
    }


def first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "brief"
    return f"invalid_brief:{where}: {e['msg']}"[:300]


@workflow.defn(name="ContentGeneration")
class GenerationWorkflow(FieldReviewHandlers, ModelWaitHandlers):
    def __init__(self) -> None:
        self.rec = StepRecorder()
        self.fields = FieldReviewGate()
        self.waits = ModelWaits()
        self.budget = RunBudget(None)
        self.stage = "intake"
        self.brief_id = ""
        self.brief: Brief | None = None
        self.content: GeneratedContent | None = None
        self.template = False
        self.passed = False
        self.score: float | None = None
        self.attempts: list[AttemptSummary] = []
        self.reasons: list[str] = []
        self.result: GenerationResult | None = None

    # --- the run ---------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: GenerationInput) -> GenerationResult:
        self.brief_id = str(inp.brief.get("brief_id") or "")[:64]
        cfg = await workflow.execute_local_activity_method(
            PipelineActivities.resolve_run_config,
            ConfigInput(workflow_id=workflow.info().workflow_id),
            summary="resolve run config",
            **CONFIG_LOCAL_ACTIVITY,
        )
        self.rec.start(cfg.latency_budgets_ms, workflow.info().start_time)

        started = workflow.now()
        try:
            brief = self.brief = Brief.model_validate(inp.brief)
        except ValidationError as err:  # a client that skipped the starter's validation
            self.rec.add("intake", StepKind.CODE, started, "rejected")
            return await self.finish(GenerationOutcome.REJECTED, [first_error(err)])
        self.rec.add("intake", StepKind.CODE, started, "ok")
        self.budget = RunBudget(cfg.run_budget_usd, cfg.budget_degrade_ratio)

        instructions = await self.write_brief(cfg, brief)
        try:
            await self.generate_with_qa(cfg, brief, instructions)
        except ModelStepFailed as err:  # no writer at all: a template, and a person
            self.reasons += [f"{err.kind}:generate", "template"]
            started = workflow.now()
            self.content, self.template = template_content(brief), True
            self.rec.add(
                "template",
                StepKind.CODE,
                started,
                "ok",
                details={"words": word_count(self.content)},
            )

        # decide
        self.stage = "decide"
        started = workflow.now()
        stakes = high_stakes(brief, self.content)
        reasons = [*self.reasons]
        if not self.passed and not self.template:
            reasons.append("qa_failed")
        reasons += stakes
        self.rec.add(
            "decide",
            StepKind.CODE,
            started,
            "review" if reasons else "publish",
            confidence=self.score,
            details={"threshold": cfg.auto_resolve_confidence, "reasons": reasons},
        )
        if not reasons:
            return await self.finish(GenerationOutcome.PUBLISHED, [])
        return await self.review_and_finish(cfg, brief, reasons)

    # --- steps -----------------------------------------------------------------------

    async def write_brief(self, cfg: RunConfig, brief: Brief) -> GenerationPrompt:
        """Step "brief"; without a model the instructions are derived in code."""
        self.stage = "brief"
        try:
            prompt, _ = await run_model_step(
                self.rec,
                self.budget,
                "brief",
                chain=cfg.models["brief"],
                prompt=cfg.prompts["generate.brief"],
                variables=brief_variables(brief),
                schema=GenerationPrompt,
                max_output_tokens=BRIEF_MAX_TOKENS,
                summary=f"brief {brief.brief_id}",
                step_cap_usd=cfg.step_budgets_usd.get("brief"),
                degradation=cfg.degradation_for("brief"),
                waits=self.waits,
            )
            return prompt
        except ModelStepFailed as err:
            started = workflow.now()
            self.rec.add(
                "brief", StepKind.CODE, started, "fallback:derived", details={"reason": err.kind}
            )
            return prompt_from_brief(brief)

    async def generate_with_qa(self, cfg: RunConfig, brief: Brief, p: GenerationPrompt) -> None:
        """Generate, check, judge; regenerate with the findings at most N times. Raises
        ModelStepFailed only when the writer fails before any content exists."""
        feedback: list[str] = []
        variables = {
            **brief_variables(brief),
            "instructions": p.instructions,
            "outline": p.outline,
            "requirements": p.requirements,
        }
        for attempt in range(1, cfg.max_qa_regenerations + 2):
            first_record = len(self.rec.records)
            summary = AttemptSummary(attempt=attempt)
            self.attempts.append(summary)
            self.stage = "generate"
            try:
                content, _ = await run_model_step(
                    self.rec,
                    self.budget,
                    "generate",
                    chain=cfg.models["generate"],
                    prompt=cfg.prompts["generate.write"],
                    variables={**variables, "qa_feedback": feedback, "attempt": attempt},
                    schema=GeneratedContent,
                    max_output_tokens=WRITE_MAX_TOKENS,
                    summary=f"generate #{attempt}",
                    key=f"generate#{attempt}",
                    step_cap_usd=cfg.step_budgets_usd.get("generate"),
                    degradation=cfg.degradation_for("generate"),
                    waits=self.waits,
                )
            except ModelStepFailed as err:
                summary.cost_usd = self._cost_since(first_record)
                if self.content is None:
                    raise
                self.reasons.append(f"{err.kind}:generate")  # the last version goes to review
                return
            self.content = content
            self.stage = "qa"
            started = workflow.now()
            findings = summary.findings = check_content(content, brief)
            verdict: JudgeVerdict | None = None
            if not findings:  # the judge is asked only about content the checks pass
                self.rec.add("qa", StepKind.QA, started, "pass", details={"attempt": attempt})
                verdict = await self.judge(cfg, brief, content, attempt)
                if verdict is None:
                    summary.cost_usd = self._cost_since(first_record)
                    return
                summary.score = self.score = verdict.score
                summary.passed = verdict.score >= cfg.auto_resolve_confidence
            self.passed = summary.passed
            last = attempt == cfg.max_qa_regenerations + 1
            if not summary.passed:  # every problem seen so far: a fix must not undo another
                new = feedback_lines(findings, verdict)
                feedback = [*feedback, *(line for line in new if line not in feedback)][:20]
            details: dict[str, Any] = {"attempt": attempt}
            if not summary.passed and not last:
                details["feedback"] = feedback
            if findings:
                details["findings"] = [f"{f.check}:{f.detail}" for f in findings]
                self.rec.add("qa", StepKind.QA, started, "fail", details=details)
            else:
                started = workflow.now()
                details["score"] = verdict.score if verdict else None
                details["threshold"] = cfg.auto_resolve_confidence
                self.rec.add(
                    "verdict",
                    StepKind.QA,
                    started,
                    "pass" if summary.passed else "fail",
                    confidence=self.score,
                    details=details,
                )
            summary.cost_usd = self._cost_since(first_record)
            if summary.passed:
                return
            if self.budget.degraded and not last:  # regenerating is optional: a person fixes it
                self.rec.add("qa", StepKind.QA, workflow.now(), "regeneration_skipped:budget")
                return

    async def judge(
        self, cfg: RunConfig, brief: Brief, content: GeneratedContent, attempt: int
    ) -> JudgeVerdict | None:
        """Step "judge"; None (and a reason for review) when no judge can answer."""
        self.stage = "judge"
        try:
            verdict, _ = await run_model_step(
                self.rec,
                self.budget,
                "judge",
                chain=cfg.models["judge"],
                prompt=cfg.prompts["generate.judge"],
                variables={**brief_variables(brief), "title": content.title, "body": content.body},
                schema=JudgeVerdict,
                max_output_tokens=JUDGE_MAX_TOKENS,
                summary=f"judge #{attempt}",
                key=f"judge#{attempt}",
                step_cap_usd=cfg.step_budgets_usd.get("judge"),
                degradation=cfg.degradation_for("judge"),
                waits=self.waits,
            )
            return verdict
        except ModelStepFailed as err:
            self.reasons.append(f"{err.kind}:judge")
            return None

    def _cost_since(self, first_record: int) -> float:
        return round(sum(r.cost_usd for r in self.rec.records[first_record:]), 10)

    async def review_and_finish(
        self, cfg: RunConfig, brief: Brief, reasons: list[str]
    ) -> GenerationResult:
        self.stage = "review"
        self.reasons = reasons
        content = self.content
        assert content is not None
        await persist_item(self.record("review", None, needs_review=True))
        started = workflow.now()
        outcome: FieldReviewOutcome = await self.fields.review(
            brief.brief_id,
            {"title": content.title, "body": content.body},
            {"body": ", ".join(reasons)},
            cfg.review_sla_seconds,
            source={
                "brief": json.dumps(brief.model_dump(mode="json"), ensure_ascii=False)[
                    :SOURCE_CHARS
                ],
                "template": "yes" if self.template else "no",
            },
        )
        action = outcome.action
        self.rec.add(
            "review",
            StepKind.HUMAN,
            started,
            "expired" if action is None else action.value,
            details={
                "reviewer": outcome.reviewer,
                "deltas": [d.field for d in outcome.deltas],
            },
        )
        if action is None:
            return await self.finish(GenerationOutcome.ESCALATED, reasons)
        final = outcome.fields
        if action != FieldAction.REJECT:
            self.content = GeneratedContent(
                title=final.get("title"), body=final.get("body") or content.body
            )
        return await self.finish(
            OUTCOME_OF_ACTION[action], reasons, reviewer=outcome.reviewer, review=outcome
        )

    async def finish(
        self,
        outcome: GenerationOutcome,
        reasons: list[str],
        reviewer: str | None = None,
        review: FieldReviewOutcome | None = None,
    ) -> GenerationResult:
        """Finalize: build the result, persist it, publish it."""
        self.stage = "finalize"
        info = workflow.info()
        started = workflow.now()
        c, b = self.content, self.brief
        result = GenerationResult(
            workflow_id=info.workflow_id,
            brief_id=self.brief_id,
            kind=b.kind if b else None,
            outcome=outcome,
            title=c.title if c else None,
            body=c.body if c else None,
            template=self.template,
            attempts=self.attempts,
            score=self.score,
            reasons=reasons,
            high_stakes=high_stakes(b, c) if b else [],
            reviewer=reviewer,
            deltas=review.deltas if review else [],
        )
        self.rec.add("finalize", StepKind.CODE, started, outcome.value)
        result.cost_usd = self.rec.cost_usd
        result.model_calls = self.rec.model_calls
        result.latency_ms = round((workflow.now() - info.start_time).total_seconds() * 1000, 3)
        result.steps = list(self.rec.records)
        self.result = result
        await persist_item(self.record("done", result))
        self.stage = "done"
        publish(
            Stage.DONE,
            outcome=outcome.value,
            needs_review=False,
            cost_usd=result.cost_usd,
            category=result.kind,
        )
        workflow.set_current_details(f"**{outcome.value}**")
        return result

    def record(
        self, stage: str, result: GenerationResult | None, needs_review: bool = False
    ) -> ItemRecord:
        return item_record(
            self.brief_id,
            stage,
            self.rec,
            outcome=result.outcome.value if result else None,
            route=None if result is None else "auto" if not result.reasons else "review",
            category=self.brief.kind if self.brief else None,
            confidence=self.score,
            needs_review=needs_review,
            review_reasons=self.reasons,
            latency_ms=result.latency_ms if result else 0.0,
            result=result.model_dump(mode="json", exclude={"steps"}) if result else None,
        )

    # --- handlers --------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> GenerationStatus:
        return GenerationStatus(
            workflow_id=workflow.info().workflow_id,
            brief_id=self.brief_id,
            stage=str(self.waits.stage or self.stage),
            attempt=len(self.attempts),
            content=self.content,
            template=self.template,
            attempts=self.attempts,
            needs_review=self.fields.pending,
            review=self.fields.request if self.fields.pending else None,
            review_reasons=self.reasons,
            steps=self.rec.records,
            cost_usd=self.rec.cost_usd,
            deadline_at=self.rec.deadline,
            result=self.result,
            model_wait=self.waits.current,
        )


SPEC = WorkflowSpec(
    name="content",
    workflow=GenerationWorkflow,
    id_prefix="content-",
    summary="content generation: brief, generate with checks and a judge, review of claims",
    input_help="a .json brief (or list) or a .jsonl file of briefs",
    reader="starter.content:brief_items",
    step_models={
        "brief": "offline-brief",
        "generate": "offline-generate",
        "judge": "offline-judge",
    },
    output_schemas=GENERATION_OUTPUTS,
    offline_tasks="activities.providers.offline_generation:TASKS",
    demo_input="starter.content:demo_briefs",
)
