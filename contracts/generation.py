"""Wire types of the content generation workflow (workflows/generation.py): the business
brief it starts from, the three model steps' outputs, its result and its status.

Every field is capped, so a brief that validates is small enough to travel in history
(well under 64 kB). Durable contracts: add optional fields only. Imports pydantic, the
standard library, `contracts` and `contracts.items`, nothing else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from contracts import ModelWait, StepRecord, Wire
from contracts.items import FieldDelta, FieldReviewRequest

Kind = Literal["product_description", "customer_email"]
Short = Annotated[str, StringConstraints(max_length=200)]
Term = Annotated[str, StringConstraints(min_length=1, max_length=80)]
FactKey = Annotated[str, StringConstraints(min_length=1, max_length=60)]
FactValue = Annotated[str, StringConstraints(max_length=300)] | int | float

MAX_TERMS = 10  # must_include / must_avoid: requirements a reviewer can still read at once
MAX_FACTS = 20
MAX_WORDS_CAP = 600  # a product page or one e-mail, not a brochure
BRIEF_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"  # part of the workflow id
MAX_BODY_CHARS = 8_000  # of generated content: MAX_WORDS_CAP words with room to spare


class Brief(Wire):
    """A business brief: what to write, for whom, in what voice, from which facts."""

    brief_id: str = Field(pattern=BRIEF_ID_PATTERN)
    kind: Kind
    brand: Short = Field(min_length=1, max_length=100)
    voice: Short = "clear and friendly"
    audience: Short = "customers"
    must_include: list[Term] = Field(default_factory=list, max_length=MAX_TERMS)
    must_avoid: list[Term] = Field(default_factory=list, max_length=MAX_TERMS)
    max_words: int = Field(120, ge=20, le=MAX_WORDS_CAP)
    language: str = Field("en", pattern=r"^[a-z]{2}$")
    facts: dict[FactKey, FactValue] = Field(default_factory=dict, max_length=MAX_FACTS)


class GenerationInput(Wire):
    """The workflow's input. The brief travels as JSON and is validated inside the run, so
    a client that skipped validation gets a `rejected` result, never a stuck task."""

    brief: dict[str, Any]


# --- the three model steps' outputs --------------------------------------------------


class GenerationPrompt(Wire):
    """Step "brief": the small model's rewrite of the brief as writing instructions."""

    instructions: str = Field(max_length=4_000)
    outline: list[Annotated[str, StringConstraints(max_length=300)]] = Field(max_length=12)
    requirements: list[Annotated[str, StringConstraints(max_length=300)]] = Field(
        default_factory=list, max_length=30
    )
    reasoning: str = Field("", max_length=1_000)


class GeneratedContent(Wire):
    """Step "generate": the content itself."""

    title: str | None = Field(None, max_length=200)
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS)
    reasoning: str = Field("", max_length=1_000)


class RequirementCheck(Wire):
    requirement: str = Field(max_length=300)
    passed: bool
    note: str = Field("", max_length=300)


class JudgeVerdict(Wire):
    """Step "judge": a score against the brief's requirements, and what to fix."""

    score: float = Field(ge=0.0, le=1.0)
    requirements: list[RequirementCheck] = Field(default_factory=list, max_length=40)
    feedback: list[Annotated[str, StringConstraints(max_length=300)]] = Field(
        default_factory=list, max_length=20
    )
    reasoning: str = Field("", max_length=1_000)


GENERATION_OUTPUTS: dict[str, type[BaseModel]] = {
    "GenerationPrompt": GenerationPrompt,
    "GeneratedContent": GeneratedContent,
    "JudgeVerdict": JudgeVerdict,
}
"""Every structured output a prompt may name (`output_schema` in data/prompts/*.toml), by
name: the gateway validates model output against these, once."""


# --- QA, result and status ------------------------------------------------------------


class ContentFinding(Wire):
    """One deterministic QA finding (decisions/generation_checks.py)."""

    check: str  # too_long | missing | avoided | unsupported_claim | placeholder | language
    detail: str = ""


class AttemptSummary(Wire):
    """One generate → checks → judge round."""

    attempt: int
    findings: list[ContentFinding] = Field(default_factory=list)
    score: float | None = None  # the judge's; None when it was not asked or failed
    passed: bool = False
    cost_usd: float = 0.0


class GenerationOutcome(StrEnum):
    PUBLISHED = "published"  # passed QA, nothing high-stakes: no person needed
    APPROVED = "approved"  # a reviewer approved the content as proposed
    EDITED = "edited"  # a reviewer corrected fields
    REJECTED = "rejected"  # invalid brief, or a reviewer rejected the content
    ESCALATED = "escalated"  # the review SLA ran out


class GenerationResult(Wire):
    workflow_id: str
    brief_id: str
    kind: str | None = None
    outcome: GenerationOutcome
    title: str | None = None
    body: str | None = None
    template: bool = False  # the deterministic template, not a model's content
    attempts: list[AttemptSummary] = Field(default_factory=list)
    score: float | None = None
    reasons: list[str] = Field(default_factory=list)  # why it went to review / was rejected
    high_stakes: list[str] = Field(default_factory=list)
    reviewer: str | None = None
    deltas: list[FieldDelta] = Field(default_factory=list)
    cost_usd: float = 0.0
    model_calls: int = 0
    latency_ms: float = 0.0
    steps: list[StepRecord] = Field(default_factory=list)


class GenerationStatus(Wire):
    """The `status` query."""

    workflow_id: str
    brief_id: str
    stage: str
    attempt: int = 0
    content: GeneratedContent | None = None
    template: bool = False
    attempts: list[AttemptSummary] = Field(default_factory=list)
    needs_review: bool = False
    review: FieldReviewRequest | None = None
    review_reasons: list[str] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    cost_usd: float = 0.0
    deadline_at: datetime | None = None
    result: GenerationResult | None = None
    model_wait: ModelWait | None = None
