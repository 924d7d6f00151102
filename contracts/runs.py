"""What every run resolves once (its configuration) and what it persists.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from pydantic import Field

from contracts.cache import CachePolicy
from contracts.common import Stage, StepRecord, Wire
from contracts.models import CascadeStep, DegradationPolicy, ModelTarget, PromptRef
from contracts.rules import RuleSet
from contracts.spam import SpamPolicy
from contracts.tickets import Correction, ReviewRequest, TriageResult


class RunConfig(Wire):
    """Resolved once per run by a local activity, so every replay sees the same values."""

    rules: RuleSet
    prompts: dict[str, PromptRef] = Field(default_factory=dict)  # by prompt id
    models: dict[str, list[ModelTarget]] = Field(default_factory=dict)  # by step: the chain
    catalog_version: str | None = None
    run_budget_usd: float | None = None
    budget_degrade_ratio: float = 1.0  # share of the budget after which the run economises
    step_budgets_usd: dict[str, float] = Field(default_factory=dict)  # cap of one call, by step
    auto_resolve_confidence: float
    max_qa_regenerations: int
    review_sla_seconds: float
    max_body_chars: int
    review_escalation_sla_seconds: float | None = None  # the second SLA; None: same as first
    review_safe_default: str = "escalate"  # after the second SLA: escalate | reject
    latency_budgets_ms: dict[str, float] = Field(default_factory=dict)  # by step; "run"
    # By model step; "default" for the steps not named. Absent (older runs): the defaults.
    degradation: dict[str, DegradationPolicy] = Field(default_factory=dict)
    # Absent in older runs: no cache, no cascade (their histories replay unchanged).
    cache: CachePolicy = Field(default_factory=CachePolicy)
    cascade: dict[str, CascadeStep] = Field(default_factory=dict)  # by step: its small tier
    spam: SpamPolicy = Field(default_factory=SpamPolicy)  # absent in older runs: off

    def degradation_for(self, step: str) -> DegradationPolicy:
        return self.degradation.get(step) or self.degradation.get("default") or DegradationPolicy()


class PersistRunInput(Wire):
    workflow_id: str
    run_id: str
    ticket_id: str
    stage: Stage
    result: TriageResult | None = None
    steps: list[StepRecord]
    review_reasons: list[str] = Field(default_factory=list)
    review: ReviewRequest | None = None  # the pending review as it stands
    review_status: str | None = None  # pending | decided | expired
    correction: Correction | None = None
