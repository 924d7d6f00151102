"""The field review gate, for any workflow: a durable wait for a person to check the fields
the machine is unsure of, with an SLA. Deterministic workflow code.

A workflow holds one `FieldReviewGate` and exposes it with `FieldReviewHandlers` (the
`review_fields` update, validated before it reaches history, the same-named signal for
tools that cannot wait, and the `field_review` query). The reviewer approves the
proposal, corrects some fields (each correction becomes a `FieldDelta`) or rejects it;
past the SLA the run takes its safe end (the gate reports `expired`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import workflow

from contracts.items import (
    MAX_FIELD_CHANGES,
    MAX_FIELD_VALUE_CHARS,
    FieldAction,
    FieldDecision,
    FieldDelta,
    FieldReviewOutcome,
    FieldReviewRequest,
)
from workflows.steps import publish


def field_refusal(req: FieldReviewRequest | None, d: FieldDecision) -> str | None:
    """Why `d` cannot be applied to the pending review, or None when it can."""
    if req is None:
        return "no field review is pending for this run"
    if d.review_id is not None and d.review_id != req.review_id:
        return f"wrong review id {d.review_id!r}: the pending review is {req.review_id!r}"
    if d.action != FieldAction.CORRECT:
        return "corrections are given with action 'correct' only" if d.corrections else None
    if not d.corrections:
        return "action 'correct' needs at least one corrected field"
    unknown = sorted(set(d.corrections) - set(req.fields))
    if unknown:
        return f"unknown fields {unknown[:5]}: the review has {sorted(req.fields)}"
    for name, value in d.corrections.items():
        if len(json.dumps(value, ensure_ascii=False)) > MAX_FIELD_VALUE_CHARS:
            return f"the value of {name} is over {MAX_FIELD_VALUE_CHARS} characters"
    return None


class FieldReviewGate:
    """`schema`: a model the fields with the corrections applied must still validate
    against (e.g. a date stays a date), so a bad value is refused before it is in history."""

    def __init__(self, schema: type[BaseModel] | None = None) -> None:
        self.schema = schema
        self.request: FieldReviewRequest | None = None
        self.decision: FieldDecision | None = None
        self.changes = 0

    @property
    def pending(self) -> bool:
        return self.request is not None and self.decision is None

    def check(self, d: FieldDecision) -> str | None:
        if self.decision is not None:
            return "this review is already decided"
        if self.changes >= MAX_FIELD_CHANGES:
            return f"this review has had {MAX_FIELD_CHANGES} decisions"
        problem = field_refusal(self.request, d)
        if problem or self.schema is None or d.action != FieldAction.CORRECT:
            return problem
        assert self.request is not None
        try:
            self.schema.model_validate({**self.request.fields, **d.corrections})
        except ValidationError as err:
            first = err.errors()[0]
            return f"invalid {'.'.join(map(str, first['loc']))}: {first['msg']}"
        return None

    def apply(self, d: FieldDecision) -> FieldReviewRequest:
        self.changes += 1
        self.decision = d
        assert self.request is not None
        return self.request

    async def review(
        self,
        item_key: str,
        fields: dict[str, Any],
        in_doubt: dict[str, str],
        sla_seconds: float,
        source: dict[str, str] | None = None,
    ) -> FieldReviewOutcome:
        """Open a review of `fields` and wait for the decision or the SLA."""
        now = workflow.now()
        review_id = f"{workflow.info().workflow_id}:fields:{workflow.uuid4().hex[:8]}"
        self.request = FieldReviewRequest(
            review_id=review_id,
            item_key=item_key,
            fields=fields,
            in_doubt=in_doubt,
            source=source or {},
            created_at=now,
            due_at=now + timedelta(seconds=sla_seconds),
        )
        self.decision = None
        publish("review", needs_review=True)  # the review tools list it (AiflowNeedsReview)
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=timedelta(seconds=sla_seconds)
            )
        except TimeoutError:
            publish("expired", needs_review=False)
            return FieldReviewOutcome(review_id=review_id, fields=fields, expired=True)
        publish("decided", needs_review=False)  # (not in `finally`: an evicted run may not)
        d = self.decision
        assert d is not None
        final = dict(fields)
        deltas = []
        if d.action == FieldAction.CORRECT:
            for name, value in d.corrections.items():
                if value != fields.get(name):
                    deltas.append(
                        FieldDelta(field=name, proposed=fields.get(name), corrected=value)
                    )
                final[name] = value
        return FieldReviewOutcome(
            review_id=review_id,
            action=d.action,
            reviewer=d.reviewer,
            fields=final if d.action != FieldAction.REJECT else fields,
            deltas=deltas,
        )


class FieldReviewHandlers:
    """Mix into a workflow class that sets `self.fields = FieldReviewGate()`: the update,
    the signal and the query every review tool speaks."""

    fields: FieldReviewGate

    @workflow.update(name="review_fields")
    def review_fields(self, d: FieldDecision) -> FieldReviewRequest:
        return self.fields.apply(d)

    @review_fields.validator
    def _check_review_fields(self, d: FieldDecision) -> None:
        problem = self.fields.check(d)
        if problem:
            raise ValueError(problem)

    @workflow.signal(name="review_fields_signal")
    def review_fields_signal(self, d: FieldDecision) -> None:
        problem = self.fields.check(d)
        if problem:
            workflow.logger.warning("field review signal ignored: %s", problem)
            return
        self.fields.apply(d)

    @workflow.query(name="field_review")
    def field_review(self) -> FieldReviewRequest | None:
        return self.fields.request if self.fields.pending else None
