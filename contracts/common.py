"""Names and records every workflow shares: queues, the wire base class, outcomes, step records.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ORCHESTRATION_QUEUE = "aiflow-orchestration"


MODEL_QUEUE = "aiflow-models"  # + "-<provider>": one task queue per provider


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class Stage(StrEnum):
    INTAKE = "intake"
    RULES = "rules"
    CLASSIFY = "classify"
    DRAFT = "draft"
    QA = "qa"
    DECIDE = "decide"
    REVIEW = "review"
    FINALIZE = "finalize"
    DONE = "done"
    WAITING_MODEL = "waiting_model"  # every model of a step's chain is down: waits to retry
    PARKED = "parked"  # a model's configuration is broken (key, model id): waits for a fix


class Outcome(StrEnum):
    RESOLVED = "resolved"  # auto-resolved: reply sent without a human
    APPROVED = "approved"  # a reviewer approved the AI reply
    EDITED = "edited"  # a reviewer corrected the AI reply
    REJECTED = "rejected"  # invalid input (intake) or a reviewer rejected
    CLOSED = "closed"  # a rule closed it early (spam, "thanks, solved")
    ESCALATED = "escalated"  # review SLA expired
    FAILED = "failed"  # a non-retryable error ended the run


class StepKind(StrEnum):
    RULE = "rule"
    CACHE = "cache"
    MODEL = "model"
    QA = "qa"
    HUMAN = "human"
    CODE = "code"


class StepRecord(Wire):
    seq: int
    step: str
    kind: StepKind
    started_at: datetime
    ended_at: datetime
    latency_ms: float
    outcome: str
    model: str | None = None
    provider: str | None = None
    prompt_version: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float = 0.0
    confidence: float | None = None
    attempt: int | None = None
    reasoning: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Notification(Wire):
    """A notice to people (review escalated); delivered by a local activity."""

    key: str  # idempotency key: workflow id + kind + review version
    kind: str
    workflow_id: str
    ticket_id: str
    message: str


class ConfigInput(Wire):
    workflow_id: str
