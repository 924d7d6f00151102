"""Model steps: pinned prompts and targets, the gateway's input and result, breakers,
degradation.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from contracts.common import Wire


class Usage(Wire):
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False  # true when counted by aiflow, not reported by the provider


class PromptRef(Wire):
    """A prompt pinned for a run: the activity refuses a file whose hash changed."""

    id: str
    version: str
    sha256: str


class ModelTarget(Wire):
    """One concrete model of an alias's fallback chain, resolved when a run starts."""

    alias: str
    provider: str
    model: str
    queue: str  # the provider's model task queue
    context_window: int
    max_output_tokens: int
    input_per_mtok: float  # for the workflow's worst-case budget reservation
    output_per_mtok: float


class ModelCall(Wire):
    """What every model activity reports about the call(s) it made."""

    provider: str
    model: str
    prompt_id: str
    prompt_version: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    attempt: int
    alias: str | None = None
    price_version: str | None = None
    cost_estimated: bool = False  # simulated price or estimated usage
    repairs: list[str] = Field(default_factory=list)  # deterministic fixes applied to output
    reasks: int = 0  # extra calls made to fix an output that did not validate
    reused: bool = False  # answer recorded by an earlier attempt: not paid again


class ModelStepInput(Wire):
    """One structured model call through the gateway."""

    workflow_id: str
    step: str  # e.g. classify, draft#2: with the request hash, the key of the response log
    prompt: PromptRef
    target: ModelTarget
    variables: dict[str, Any]
    max_output_tokens: int
    # The schema the workflow parses the answer into; the gateway refuses a prompt whose
    # output_schema differs, so output is checked against one schema, not two that drift.
    output_schema: str | None = None


class BreakerCheck(Wire):
    key: str  # provider/model


class BreakerVerdict(Wire):
    allowed: bool
    state: str  # closed | open | half_open
    retry_at: datetime | None = None
    reason: str | None = None  # when refused: outage | config (which breaker is open)


class DegradationPolicy(Wire):
    """What a model step does when no model of its chain can answer, by failure class
    (workflows/degrade.py). Waits are durable timers, doubling from `first_wait_seconds`
    to `max_wait_seconds` (never sooner than an open breaker lets a call through)."""

    # Transient outage (5xx, 429, timeouts, open breaker): wait this long for a recovery,
    # then go to review with the reason model_unavailable:<step>. 0: review at once.
    outage_window_seconds: float = Field(1800.0, ge=0)
    first_wait_seconds: float = Field(15.0, gt=0)
    max_wait_seconds: float = Field(600.0, gt=0)
    # Configuration error (401/403, unknown model, a worker out of step): park until it is
    # fixed (the model's config breaker closes) or an operator releases the run to review;
    # after `park_seconds` it goes to review by itself (model_config:<step>).
    on_config_error: Literal["park", "review"] = "park"
    park_seconds: float = Field(7 * 86400.0, ge=0)


class ModelWait(Wire):
    """A model step waiting for its models to come back: the `status` query shows it."""

    step: str
    reason: str  # model_unavailable | model_config
    since: datetime
    until: datetime  # then the run goes to review
    next_check: datetime
    rounds: int  # times the chain was tried
    models: list[str] = Field(default_factory=list)
    last_errors: list[str] = Field(default_factory=list)


class ModelStepResult(Wire):
    output: dict[str, Any]  # validated against the prompt's output schema
    call: ModelCall


class CascadeStep(Wire):
    """A model step's small tier: tried first; the step escalates to its full chain (the
    large tier) when the answer's confidence is under `min_confidence`, its output does
    not validate, or (for drafts) QA fails."""

    chain: list[ModelTarget]
    min_confidence: float | None = None  # None: the step has no confidence to judge by
