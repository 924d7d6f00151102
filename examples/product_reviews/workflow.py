"""Product reviews: label each review's sentiment and topics, send unhappy customers to
care, and let a person check the labels the machine is unsure of. The walkthrough
example of README "Write your own workflow": every piece is an aiflow building block."""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow

from contracts import ConfigInput, StepKind
from contracts.items import FieldAction
from examples.product_reviews.contracts import ReviewInput, ReviewResult, Sentiment
from workflows.degrade import ModelWaitHandlers, ModelWaits
from workflows.field_review import FieldReviewGate, FieldReviewHandlers
from workflows.model_step import ModelStepFailed, RunBudget, run_model_step
from workflows.policies import CONFIG_LOCAL_ACTIVITY
from workflows.registry import WorkflowSpec
from workflows.steps import StepRecorder, item_record, persist_item, publish

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities


@workflow.defn(name="ProductReviews")
class ProductReviewWorkflow(FieldReviewHandlers, ModelWaitHandlers):
    def __init__(self) -> None:
        self.rec = StepRecorder()
        self.fields = FieldReviewGate()  # the review_fields update, signal and query
        self.waits = ModelWaits()  # durable waits through outages, and their signals

    @workflow.run
    async def run(self, inp: ReviewInput) -> ReviewResult:
        review = inp.review
        cfg = await workflow.execute_local_activity_method(
            PipelineActivities.resolve_run_config,
            ConfigInput(workflow_id=workflow.info().workflow_id),
            **CONFIG_LOCAL_ACTIVITY,
        )
        doubts: dict[str, str] = {}
        try:  # 1 the model step: fallbacks, budget, outage waits and records built in
            label, _ = await run_model_step(
                self.rec,
                RunBudget(cfg.run_budget_usd),
                "sentiment",
                chain=cfg.models["sentiment"],
                prompt=cfg.prompts["reviews.sentiment"],
                variables=review.model_dump(),
                schema=Sentiment,
                max_output_tokens=100,
                summary=f"label review {review.review_id}",
                degradation=cfg.degradation_for("sentiment"),
                waits=self.waits,
            )
        except ModelStepFailed as err:  # no model answered: a person labels it
            label = Sentiment(sentiment="neutral", confidence=0)
            doubts["sentiment"] = f"{err.kind}: no model answered"
        # 2 QA in plain code: the stars and the words must agree
        started = workflow.now()
        stars = "positive" if review.rating >= 4 else "negative" if review.rating <= 2 else None
        if stars and label.sentiment != stars and "sentiment" not in doubts:
            doubts["sentiment"] = f"{review.rating} stars but labelled {label.sentiment}"
        if label.confidence < cfg.auto_resolve_confidence and not doubts:
            doubts["sentiment"] = f"confidence {label.confidence:.2f}"
        self.rec.add("qa", StepKind.QA, started, "doubt" if doubts else "pass", details=doubts)
        fields = {"sentiment": label.sentiment, "topics": label.topics}
        outcome = "labelled"
        deltas = []
        if doubts:  # 3 a durable pause: a person checks the fields in doubt, with an SLA
            started = workflow.now()
            end = await self.fields.review(
                review.review_id, fields, doubts, cfg.review_sla_seconds, {"text": review.text}
            )
            fields, deltas = end.fields, end.deltas
            outcome = {
                FieldAction.APPROVE: "approved",
                FieldAction.CORRECT: "corrected",
                FieldAction.REJECT: "rejected",
                None: "escalated",
            }[end.action]
            self.rec.add("review", StepKind.HUMAN, started, outcome, details={"by": end.reviewer})
        # 4 a rule routes it; 5 finalize: persist the run and its steps, publish the outcome
        route = "care" if fields["sentiment"] == "negative" or review.rating <= 2 else "catalogue"
        result = ReviewResult(
            review_id=review.review_id,
            outcome=outcome,
            sentiment=fields["sentiment"],
            topics=fields["topics"],
            route=route,
            deltas=deltas,
            cost_usd=self.rec.cost_usd,
            steps=self.rec.records,
        )
        await persist_item(
            item_record(
                review.review_id,
                "done",
                self.rec,
                outcome=outcome,
                route=route,
                category=fields["sentiment"],
                confidence=label.confidence,
                result=result.model_dump(mode="json", exclude={"steps"}),
            )
        )
        publish("done", outcome=outcome, route=route, needs_review=False)
        return result


SPEC = WorkflowSpec(
    name="reviews",
    workflow=ProductReviewWorkflow,
    id_prefix="review-",
    summary="product reviews: sentiment and topics, care routing, field review when unsure",
    input_help="a .json review (or list) or a .jsonl file of reviews",
    reader="examples.product_reviews.reader:review_items",
    step_models={"sentiment": "offline-classify"},
    output_schemas={"Sentiment": Sentiment},
    offline_tasks="examples.product_reviews.offline:TASKS",
    prompts_dir=Path(__file__).parent / "prompts",
)
