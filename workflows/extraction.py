"""Reference workflow 2: document extraction (invoices) on the generic building blocks.

ingest → extract ⇄ checks (re-asked with the findings, bounded) → field review of the
fields in doubt → finalize. A document that cannot be read ends `rejected`; a model that
cannot answer hands the document to a person; an expired review ends `escalated`.
Duplicates: the client names the run doc-<sha256 prefix>, so the same file is one run.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from contracts import ConfigInput, RunConfig, StepKind
from contracts.extraction import (
    EXTRACTION_OUTPUTS,
    DocumentInput,
    ExtractionOutcome,
    ExtractionResult,
    ExtractionState,
    IngestedDocument,
    InvoiceExtraction,
)
from contracts.items import FieldAction, FieldDelta, ItemRecord
from decisions.extraction_checks import check_invoice, feedback_lines, fields_in_doubt
from decisions.extraction_checks import review_fields as proposal
from workflows.degrade import ModelWaitHandlers, ModelWaits
from workflows.field_review import FieldReviewGate, FieldReviewHandlers
from workflows.model_step import ModelStepFailed, RunBudget, run_model_step
from workflows.policies import CONFIG_LOCAL_ACTIVITY, INGEST_ACTIVITY
from workflows.registry import WorkflowSpec
from workflows.steps import StepRecorder, item_record, persist_item, publish

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentActivities
    from activities.pipeline import PipelineActivities

EXTRACT_MAX_TOKENS = 2_000
MAX_REASKS = 2  # re-asks with the check findings; a reviewer fixes what is left
FIELD_CONFIDENCE_THRESHOLD = 0.8  # below it, a person checks the field


@workflow.defn(name="DocumentExtraction")
class ExtractionWorkflow(FieldReviewHandlers, ModelWaitHandlers):
    def __init__(self) -> None:
        self.rec = StepRecorder()
        self.fields = FieldReviewGate(InvoiceExtraction)  # corrections must still validate
        self.waits = ModelWaits()
        self.budget = RunBudget(None)
        self.stage = "ingest"
        self.doc_id = ""
        self.document: IngestedDocument | None = None
        self.extraction: InvoiceExtraction | None = None
        self.findings: list = []
        self.in_doubt: dict[str, str] = {}
        self.partial_output: str | None = None
        self.result: ExtractionResult | None = None

    @workflow.run
    async def run(self, doc: DocumentInput) -> ExtractionResult:
        self.doc_id = doc.doc_id
        cfg = await workflow.execute_local_activity_method(
            PipelineActivities.resolve_run_config,
            ConfigInput(workflow_id=workflow.info().workflow_id),
            summary="resolve run config",
            **CONFIG_LOCAL_ACTIVITY,
        )
        self.rec.start(cfg.latency_budgets_ms, workflow.info().start_time)
        self.budget = RunBudget(cfg.run_budget_usd, cfg.budget_degrade_ratio)
        started = workflow.now()
        try:
            d = self.document = await workflow.execute_activity_method(
                DocumentActivities.ingest_document,
                doc,
                summary=f"ingest {doc.filename}"[:200],
                **INGEST_ACTIVITY,
            )
        except ActivityError as err:  # unreadable, or unreadable in time: never a failed run
            cause = err.cause
            why = cause.message if isinstance(cause, ApplicationError) else str(cause)
            code = cause.type if isinstance(cause, ApplicationError) else "ingest_failed"
            self.rec.add("ingest", StepKind.CODE, started, "rejected", details={"reason": why})
            return await self.finish(doc, ExtractionOutcome.REJECTED, [code], rejection=why)
        self.rec.add(
            "ingest",
            StepKind.CODE,
            started,
            "ok",
            details={"pages": d.pages, "chars": d.chars, "parts": d.parts, "sha256": doc.sha256},
        )
        try:
            x = await self.extract(cfg, doc, d)
        except ModelStepFailed as err:  # no model answered: a person fills the fields in
            self.partial_output = err.partial
            x = self.extraction or InvoiceExtraction()
            return await self.review(cfg, doc, x, [f"{err.kind}:{err.step}"])
        self.in_doubt = fields_in_doubt(x, self.findings, FIELD_CONFIDENCE_THRESHOLD)
        reasons = [f"check:{f.check}" for f in self.findings]
        reasons += ["low_confidence"] if len(self.in_doubt) > len(reasons) else []
        decision = "review" if self.in_doubt else "auto"
        self.rec.add("decide", StepKind.CODE, workflow.now(), decision, details=self.in_doubt)
        if not self.in_doubt:
            return await self.finish(doc, ExtractionOutcome.EXTRACTED, [], fields=x)
        return await self.review(cfg, doc, x, reasons)

    async def extract(
        self, cfg: RunConfig, doc: DocumentInput, d: IngestedDocument
    ) -> InvoiceExtraction:
        """Extract, check, and re-ask with the findings while they change the answer."""
        feedback: list[str] = []
        for attempt in range(1, MAX_REASKS + 2):
            self.stage = "extract"
            x, _ = await run_model_step(
                self.rec,
                self.budget,
                "extract",
                chain=cfg.models["extract"],
                prompt=cfg.prompts["extract.invoice"],
                variables={
                    "text": d.model_text,
                    "filename": doc.filename,
                    "language": d.language,
                    "check_feedback": feedback,
                    "attempt": attempt,
                },
                schema=InvoiceExtraction,
                max_output_tokens=EXTRACT_MAX_TOKENS,
                summary=f"extract #{attempt}",
                key=f"extract#{attempt}",
                step_cap_usd=cfg.step_budgets_usd.get("extract"),
                degradation=cfg.degradation_for("extract"),
                waits=self.waits,
                stage="extract",
            )
            unchanged, self.extraction = x == self.extraction, x
            started = workflow.now()
            self.findings = check_invoice(x)
            outcome = "fail" if self.findings else "pass"
            checks = [f.check for f in self.findings]
            self.rec.add(
                "checks",
                StepKind.QA,
                started,
                outcome,
                details={"findings": checks, "attempt": attempt},
            )
            if not self.findings or unchanged or self.budget.degraded:
                break
            feedback = feedback_lines(self.findings)
        return x

    async def review(
        self, cfg: RunConfig, doc: DocumentInput, x: InvoiceExtraction, reasons: list[str]
    ) -> ExtractionResult:
        self.stage = "review"
        self.in_doubt = self.in_doubt or {f: "no model answer" for f in proposal(x)}
        await persist_item(self.record(doc, "review", None, reasons, needs_review=True))
        started = workflow.now()
        source = {
            "filename": doc.filename,
            "preview": self.document.preview if self.document else "",
        }
        out = await self.fields.review(
            doc.doc_id, proposal(x), self.in_doubt, cfg.review_sla_seconds, source=source
        )
        act = "expired" if out.expired else str(out.action)
        self.rec.add("review", StepKind.HUMAN, started, act, details={"deltas": len(out.deltas)})
        if out.expired:
            return await self.finish(
                doc, ExtractionOutcome.ESCALATED, [*reasons, "review_sla_expired"], fields=x
            )
        if out.action == FieldAction.REJECT:
            return await self.finish(
                doc,
                ExtractionOutcome.REJECTED,
                [*reasons, "reviewer_rejected"],
                reviewer=out.reviewer,
            )
        final = InvoiceExtraction.model_validate({**x.model_dump(mode="json"), **out.fields})
        outcome = ExtractionOutcome.CORRECTED if out.deltas else ExtractionOutcome.APPROVED
        return await self.finish(
            doc, outcome, reasons, fields=final, deltas=out.deltas, reviewer=out.reviewer
        )

    async def finish(
        self,
        doc: DocumentInput,
        outcome: ExtractionOutcome,
        reasons: list[str],
        *,
        fields: InvoiceExtraction | None = None,
        deltas: list[FieldDelta] | None = None,
        reviewer: str | None = None,
        rejection: str | None = None,
    ) -> ExtractionResult:
        self.stage = "finalize"
        info, started = workflow.info(), workflow.now()
        self.rec.add("finalize", StepKind.CODE, started, outcome.value)
        result = ExtractionResult(
            workflow_id=info.workflow_id,
            doc_id=doc.doc_id,
            filename=doc.filename,
            outcome=outcome,
            reasons=reasons,
            rejection=rejection,
            fields=fields,
            proposed=self.extraction,
            findings=self.findings,
            in_doubt=self.in_doubt,
            deltas=deltas or [],
            reviewer=reviewer,
            document=self.document.model_copy(update={"model_text": ""}) if self.document else None,
            cost_usd=self.rec.cost_usd,
            model_calls=self.rec.model_calls,
            latency_ms=round((workflow.now() - info.start_time).total_seconds() * 1000, 3),
            steps=list(self.rec.records),
        )
        await persist_item(self.record(doc, "done", result, reasons))
        self.stage, self.result = "done", result
        publish("done", outcome=outcome.value, needs_review=False, cost_usd=result.cost_usd)
        return result

    def record(
        self,
        doc: DocumentInput,
        stage: str,
        r: ExtractionResult | None,
        reasons: list[str],
        needs_review: bool = False,
    ) -> ItemRecord:
        conf = (self.extraction.field_confidence if self.extraction else {}).values()
        return item_record(
            doc.doc_id,
            stage,
            self.rec,
            outcome=r.outcome.value if r else None,
            category="invoice",
            confidence=min(conf, default=None),
            needs_review=needs_review,
            review_reasons=reasons,
            latency_ms=r.latency_ms if r else 0.0,
            result=r.model_dump(mode="json", exclude={"steps"}) if r else None,
        )

    @workflow.query(name="status")
    def status(self) -> ExtractionState:
        return ExtractionState(
            workflow_id=workflow.info().workflow_id,
            doc_id=self.doc_id,
            stage=str(self.waits.stage or self.stage),
            document=self.document,
            extraction=self.extraction,
            findings=self.findings,
            in_doubt=self.in_doubt,
            needs_review=self.fields.pending,
            review=self.fields.request if self.fields.pending else None,
            partial_output=self.partial_output,
            steps=self.rec.records,
            cost_usd=self.rec.cost_usd,
            result=self.result,
            model_wait=self.waits.current,
        )


SPEC = WorkflowSpec(
    name="documents",
    workflow=ExtractionWorkflow,
    id_prefix="doc-",
    summary="invoice extraction: ingest, extract with checks, field review of what is unsure",
    input_help="a .pdf, .txt, .html or .eml invoice, or a directory of them",
    reader="starter.documents:document_items",
    step_models={"extract": "offline-extract"},
    output_schemas=EXTRACTION_OUTPUTS,
    offline_tasks="activities.providers.offline_extraction:TASKS",
    demo_input="starter.doc_corpus:demo_folder",
)
