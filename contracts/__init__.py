"""Wire models: everything that crosses a Temporal boundary.

Durable contracts: histories keep these shapes, so only add optional fields.
Import nothing here but pydantic and the standard library.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- names shared by workflows, worker, starters and tests -----------------------------

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


# --- the work item --------------------------------------------------------------------


class Ticket(Wire):
    """A support ticket as a client submits it: raw, untrusted, possibly invalid."""

    ticket_id: str
    subject: str | None = None
    body: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    channel: str | None = None  # email, chat, web, phone
    customer_tier: str | None = None  # free, pro, vip, enterprise
    language: str | None = None  # ISO 639-1 hint from the channel, if any
    metadata: dict[str, str] = Field(default_factory=dict)
    # Set by the starter when the body was too large to travel in history whole.
    body_ref: str | None = None
    body_chars: int | None = None


class NormalizedTicket(Wire):
    ticket_id: str
    subject: str
    body: str
    customer_email: str
    customer_name: str | None = None
    channel: str
    customer_tier: str
    language: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class Rejection(Wire):
    code: str  # machine-readable: missing_field, body_too_long, invalid_email, ...
    field: str | None = None
    message: str


# --- rules ----------------------------------------------------------------------------


class RuleCondition(Wire):
    """All given parts must hold. Text matching is case-insensitive on subject + body."""

    any_keywords: list[str] = Field(default_factory=list)
    any_patterns: list[str] = Field(default_factory=list)  # regular expressions
    metadata: dict[str, list[str]] = Field(default_factory=dict)  # field -> allowed values
    max_body_chars: int | None = None
    min_body_chars: int | None = None


class RuleAction(Wire):
    type: Literal["close", "route", "flag"]
    outcome_reason: str | None = None  # for close: spam, auto_closed, ...
    queue: str | None = None  # for route
    priority: str | None = None
    require_review: bool = False
    reply: str | None = None  # canned reply for close, if any


class Rule(Wire):
    id: str
    description: str = ""
    when: RuleCondition
    action: RuleAction


class RuleSet(Wire):
    version: str
    rules: list[Rule]


class RuleMatch(Wire):
    rule_id: str
    action: RuleAction


class RulesVerdict(Wire):
    """What the rule layer decided; `close` set means no model is called."""

    rules_version: str
    matches: list[RuleMatch] = Field(default_factory=list)
    close: RuleMatch | None = None
    queue: str = "general"
    priority: str | None = None
    require_review: bool = False
    review_reasons: list[str] = Field(default_factory=list)


# --- model steps ----------------------------------------------------------------------


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


class Classification(Wire):
    category: str
    priority: str
    confidence: float = Field(ge=0.0, le=1.0)
    language: str
    reasoning: str


class Draft(Wire):
    reply: str
    reasoning: str


# --- QA -------------------------------------------------------------------------------


class QaFinding(Wire):
    check: str  # length, greeting, sign_off, internal_note, secret, pii, forbidden_promise
    message: str


class QaReport(Wire):
    passed: bool
    findings: list[QaFinding] = Field(default_factory=list)


# --- review ---------------------------------------------------------------------------


CATEGORIES = ("billing", "technical", "account", "shipping", "returns", "feedback", "other")
PRIORITIES = ("low", "normal", "high", "urgent")


class ReviewAction(StrEnum):
    APPROVE = "approve"  # send the AI proposal as it is
    EDIT = "edit"  # send it with the reviewer's corrected fields
    REJECT = "reject"  # send nothing; a reason is required
    ESCALATE = "escalate"  # hand to the escalation tier with a second SLA (once)
    REASSIGN = "reassign"  # hand to another reviewer; the SLA keeps running


TERMINAL_ACTIONS = frozenset({ReviewAction.APPROVE, ReviewAction.EDIT, ReviewAction.REJECT})


class ReviewDecision(Wire):
    """A reviewer's decision, sent as the `submit_review` update or `review_decision` signal.

    `review_id` and `version` name the review the reviewer saw: a decision for another
    review, or for an older version (the run moved on: reassigned, escalated), is refused.
    Both may be left out by fire-and-forget tools. `decision_id` makes a submission
    idempotent; left out, it is derived from the review, version, action and reviewer.
    """

    action: ReviewAction
    reviewer: str
    decision_id: str | None = None
    review_id: str | None = None
    version: int | None = None
    # edit: the corrected fields; fields left out keep the AI's value
    reply: str | None = None
    category: str | None = None
    priority: str | None = None
    reason: str | None = None  # a reason code: required for reject, kept for every action
    assignee: str | None = None  # reassign: who takes the review over
    note: str | None = None


class ReviewProposal(Wire):
    """The reviewer-editable fields: the AI's proposal, or the final answer after review."""

    category: str | None = None
    priority: str | None = None
    reply: str | None = None


class ReviewEvent(Wire):
    """A change to a pending review (bounded: a review refuses changes past its cap)."""

    at: datetime
    kind: str  # opened, reassigned, escalated, sla_escalated, ignored_signal
    actor: str
    version: int
    detail: str | None = None


class ReviewRequest(Wire):
    """Everything a reviewer needs, returned by the `pending_review` query."""

    review_id: str
    version: int
    workflow_id: str
    ticket_id: str
    queue: str  # the route the ticket goes to
    ticket: NormalizedTicket | None = None
    proposal: ReviewProposal
    confidence: float | None = None
    language: str | None = None
    reasoning: str | None = None  # the classifier's one-line reasoning
    reasons: list[str] = Field(default_factory=list)  # why a person must decide
    qa_findings: list[QaFinding] = Field(default_factory=list)
    partial_output: str | None = None  # a model answer that never validated
    cost_usd: float = 0.0
    prompt_versions: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    requested_at: datetime
    sla_deadline: datetime
    escalated: bool = False
    assignee: str | None = None
    events: list[ReviewEvent] = Field(default_factory=list)


class ReviewReceipt(Wire):
    """What the `submit_review` update returns: the decision as the run applied it."""

    review_id: str
    decision_id: str
    action: ReviewAction
    version: int  # the review's version after the decision
    duplicate: bool = False  # the same decision id was applied before: nothing changed
    final: ReviewProposal | None = None  # for approve / edit: what will be sent


class Correction(Wire):
    """A reviewer's terminal decision next to the AI proposal: feedback data."""

    decision_id: str
    review_id: str
    action: ReviewAction
    reviewer: str
    reason: str | None = None
    note: str | None = None
    requested_at: datetime
    decided_at: datetime
    proposal: ReviewProposal
    final: ReviewProposal | None = None  # None for reject
    confidence: float | None = None
    prompt_versions: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    escalated: bool = False


class Notification(Wire):
    """A notice to people (review escalated); delivered by a local activity."""

    key: str  # idempotency key: workflow id + kind + review version
    kind: str
    workflow_id: str
    ticket_id: str
    message: str


# --- run state, records and results ---------------------------------------------------


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

    def degradation_for(self, step: str) -> DegradationPolicy:
        return self.degradation.get(step) or self.degradation.get("default") or DegradationPolicy()


class TriageInput(Wire):
    ticket: Ticket


class TriageResult(Wire):
    workflow_id: str
    ticket_id: str
    outcome: Outcome
    route: str
    category: str | None = None
    priority: str | None = None
    confidence: float | None = None
    reply: str | None = None
    rejections: list[Rejection] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)  # why it went to review / closed / failed
    error: str | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    model_calls: int = 0
    steps: list[StepRecord] = Field(default_factory=list)


class RunState(Wire):
    """Returned by the `status` query while the run lives."""

    workflow_id: str
    ticket_id: str
    stage: Stage
    route: str | None = None
    needs_review: bool = False
    review_reasons: list[str] = Field(default_factory=list)
    review: ReviewRequest | None = None  # the review, pending or decided
    ticket: NormalizedTicket | None = None
    classification: Classification | None = None
    draft: Draft | None = None
    qa: QaReport | None = None
    partial_output: str | None = None  # a model answer that never validated, for the reviewer
    steps: list[StepRecord] = Field(default_factory=list)
    cost_usd: float = 0.0
    deadline_at: datetime | None = None  # the run's decision deadline (its "run" budget)
    result: TriageResult | None = None
    model_wait: ModelWait | None = None  # set while a model step waits for its models


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


class ConfigInput(Wire):
    workflow_id: str


# --- drift ----------------------------------------------------------------------------


class RunFeaturesInput(Wire):
    """What `record_run_features` stores for one run: shapes of the input, no text."""

    workflow_id: str
    ticket_id: str
    body_chars: int
    language: str | None = None  # the normalised hint; None when the channel sent none
    channel: str
    customer_tier: str
    metadata_keys: int = 0


class DriftInput(Wire):
    """One drift check: the recent window against the baseline window just before it."""

    recent_seconds: float = Field(86400.0, gt=0)
    baseline_seconds: float = Field(7 * 86400.0, gt=0)
    min_samples: int = Field(50, ge=1)  # fewer in either window: "insufficient", no alert
    end: datetime | None = None  # end of the recent window; None: when the check runs


class DriftWindows(Wire):
    baseline_start: datetime
    recent_start: datetime  # the end of the baseline window
    recent_end: datetime


class FeatureCounts(Wire):
    """One feature's counts in both windows, per label (a category or a numeric bin)."""

    name: str
    group: str  # input | output
    ordered: bool = False  # numeric bins, in order: KS applies
    labels: list[str]
    baseline: list[int]
    recent: list[int]


class DriftSnapshot(Wire):
    windows: DriftWindows
    features: list[FeatureCounts]


class FeatureDrift(Wire):
    name: str
    group: str
    status: str  # stable | watch | drift | insufficient
    baseline_n: int
    recent_n: int
    psi: float | None = None
    ks_d: float | None = None
    ks_p: float | None = None
    change: str = ""  # the label whose share moved most, e.g. "de 10% → 60%"


class DriftReport(Wire):
    workflow_id: str
    windows: DriftWindows
    features: list[FeatureDrift]
    drifted: list[str] = Field(default_factory=list)
    alerted: bool = False


class DriftAlert(Wire):
    workflow_id: str
    windows: DriftWindows
    features: list[FeatureDrift]  # the drifted ones
