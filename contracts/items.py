"""Wire types every workflow shares, whatever its item: the record a run persists, and the
field review (a person checks the fields the machine is unsure of).

Durable contracts: add optional fields only. Imports pydantic, the standard library and
`contracts` itself, nothing else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from contracts import StepRecord, Wire

MAX_FIELD_VALUE_CHARS = 5_000  # of one corrected value: a field, not a document
MAX_FIELD_CHANGES = 20  # accepted decisions per field review: history stays bounded


class ItemRecord(Wire):
    """What a run of any workflow persists (the `runs` and `steps` tables): its business
    key, where it stands, and its result as JSON."""

    workflow_id: str
    run_id: str
    workflow_type: str  # the registered name, e.g. "DocumentExtraction"
    item_key: str  # the business key the workflow id is made of
    stage: str
    outcome: str | None = None
    route: str | None = None
    category: str | None = None  # the item's kind or class, for reports
    confidence: float | None = None
    needs_review: bool = False
    review_reasons: list[str] = Field(default_factory=list)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    model_calls: int = 0
    result: dict[str, Any] | None = None
    steps: list[StepRecord] = Field(default_factory=list)


class FieldAction(StrEnum):
    APPROVE = "approve"  # the proposal as it stands
    CORRECT = "correct"  # the proposal with the reviewer's values for some fields
    REJECT = "reject"  # nothing of it is used


class FieldReviewRequest(Wire):
    """A pending field review: every proposed field, and the ones in doubt with why."""

    review_id: str
    item_key: str
    fields: dict[str, Any]  # field name -> proposed value (JSON)
    in_doubt: dict[str, str] = Field(default_factory=dict)  # field name -> reason
    source: dict[str, str] = Field(default_factory=dict)  # what the reviewer reads beside it
    created_at: datetime
    due_at: datetime


class FieldDecision(Wire):
    """A reviewer's answer to a field review (the `review_fields` update or signal)."""

    action: FieldAction
    reviewer: str = Field(min_length=1, max_length=200)
    review_id: str | None = None  # when set, must be the pending review's
    corrections: dict[str, Any] = Field(default_factory=dict)  # only with "correct"
    note: str | None = Field(None, max_length=2_000)


class FieldDelta(Wire):
    """One corrected field: what the machine proposed and what the reviewer set. Stored
    with the run, exported by `aiflow feedback export`."""

    field: str
    proposed: Any = None
    corrected: Any = None


class FieldReviewOutcome(Wire):
    """How a field review ended: a decision, or the SLA running out."""

    review_id: str
    action: FieldAction | None = None  # None: the SLA expired with no decision
    reviewer: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)  # the final values
    deltas: list[FieldDelta] = Field(default_factory=list)
    expired: bool = False
