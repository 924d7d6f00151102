"""Local activities of the pipeline: resolve a run's configuration, persist its records.

Both are short I/O against local files or the store, so workflows run them as local
activities (no extra round trip through the server; see design.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from temporalio import activity

from activities.breaker import CircuitBreakers
from activities.catalog import Catalog
from activities.prompts import PromptLibrary
from activities.store import Store
from activities.webhook import Webhook
from contracts import (
    BreakerCheck,
    BreakerVerdict,
    CascadeStep,
    ConfigInput,
    DegradationPolicy,
    ModelTarget,
    Notification,
    PersistRunInput,
    PromptRef,
    RuleSet,
    RunConfig,
)
from contracts.cache import CachePolicy
from contracts.items import ItemRecord
from contracts.spam import SpamPolicy
from decisions.rules import check_rules

log = structlog.get_logger("aiflow.pipeline")


@dataclass(frozen=True)
class RunPolicy:
    """The settings a run pins when it starts (the worker maps Settings onto this)."""

    rules_path: Path
    auto_resolve_confidence: float
    max_qa_regenerations: int
    review_sla_seconds: float
    max_body_chars: int
    catalog: Catalog
    prompts: PromptLibrary
    step_models: dict[str, str]  # model step -> catalogue alias
    provider_queues: dict[str, str]  # enabled provider -> its task queue
    prompt_versions: dict[str, str] = field(default_factory=dict)  # pins; else newest
    run_budget_usd: float | None = None
    budget_degrade_ratio: float = 1.0
    step_budgets_usd: dict[str, float] = field(default_factory=dict)
    review_escalation_sla_seconds: float | None = None
    review_safe_default: str = "escalate"
    latency_budgets_ms: dict[str, float] = field(default_factory=dict)
    degradation: dict[str, DegradationPolicy] = field(default_factory=dict)
    # steps on a workflow's default alias (not set by the operator): a catalogue without
    # that alias leaves the step unresolved (a warning) instead of stopping the worker
    default_steps: frozenset[str] = frozenset()
    cache: CachePolicy = field(default_factory=CachePolicy)  # off unless the worker says
    # model step -> (its small tier's alias, the confidence under which it escalates)
    cascade: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    spam: SpamPolicy = field(default_factory=SpamPolicy)  # off unless the worker says


def model_chain(policy: RunPolicy, alias: str) -> list[ModelTarget]:
    """The alias's fallback chain, limited to the providers this deployment enables."""
    chain = [
        ModelTarget(
            alias=alias,
            provider=t.provider,
            model=t.model,
            queue=policy.provider_queues[t.provider],
            context_window=t.context_window,
            max_output_tokens=t.max_output_tokens,
            input_per_mtok=float(policy.catalog.worst_case_usd(t, 1_000_000, 0)),
            output_per_mtok=float(policy.catalog.worst_case_usd(t, 0, 1_000_000)),
        )
        for t in policy.catalog.chain(alias)
        if t.provider in policy.provider_queues
    ]
    if not chain:
        raise ValueError(f"model alias {alias!r}: no model of an enabled provider")
    return chain


def pinned_prompts(policy: RunPolicy) -> dict[str, PromptRef]:
    refs = {}
    for prompt_id in policy.prompts.ids():
        version = policy.prompt_versions.get(prompt_id)
        prompt = (
            policy.prompts.get(PromptRef(id=prompt_id, version=version, sha256=""))
            if version
            else policy.prompts.latest(prompt_id)
        )
        refs[prompt_id] = prompt.ref
    return refs


def load_rules(path: Path) -> RuleSet:
    """The rule set in `path`, its version suffixed with the content hash it was read at.
    Raises ValueError when the file is not a valid rule set."""
    raw = path.read_bytes()
    rules = RuleSet.model_validate_json(raw)
    problems = check_rules(rules)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    rules.version = f"{rules.version}+{hashlib.sha256(raw).hexdigest()[:8]}"
    return rules


class PipelineActivities:
    def __init__(
        self,
        store: Store,
        policy: RunPolicy,
        breakers: CircuitBreakers,
        webhook: Webhook | None = None,
    ) -> None:
        self.store = store
        self.webhook = webhook
        self.policy = policy
        self.breakers = breakers
        # A broken rule file stops the worker at start; one broken later (a bad edit on a
        # running worker) leaves new runs on the last good rule set instead of failing them.
        self.last_good_rules = load_rules(policy.rules_path)
        # Chains and prompt pins are checked at start too, so a bad alias or pin fails here.
        self.models = {}
        for step, alias in policy.step_models.items():
            if step in policy.default_steps and alias not in policy.catalog.aliases:
                log.warning("model_step.unresolved", step=step, alias=alias)
                continue
            self.models[step] = model_chain(policy, alias)
        self.prompt_refs = pinned_prompts(policy)
        self.cascade = {}
        for step, (alias, min_confidence) in policy.cascade.items():
            if step not in self.models:
                continue
            if alias not in policy.catalog.aliases:
                raise ValueError(f"cascade: step {step!r} names unknown alias {alias!r}")
            self.cascade[step] = CascadeStep(
                chain=model_chain(policy, alias), min_confidence=min_confidence
            )

    @activity.defn(name="resolve_run_config")
    def resolve_run_config(self, inp: ConfigInput) -> RunConfig:
        """Read the rule set and policy once; the workflow pins the result for the run."""
        p = self.policy
        try:
            self.last_good_rules = load_rules(p.rules_path)
        except (OSError, ValueError) as err:
            activity.logger.error(
                "rules.reload_failed; keeping %s: %s", self.last_good_rules.version, err
            )
        return RunConfig(
            rules=self.last_good_rules,
            auto_resolve_confidence=p.auto_resolve_confidence,
            max_qa_regenerations=p.max_qa_regenerations,
            review_sla_seconds=p.review_sla_seconds,
            max_body_chars=p.max_body_chars,
            prompts=self.prompt_refs,
            models=self.models,
            catalog_version=p.catalog.version,
            run_budget_usd=p.run_budget_usd,
            budget_degrade_ratio=p.budget_degrade_ratio,
            step_budgets_usd=p.step_budgets_usd,
            review_escalation_sla_seconds=p.review_escalation_sla_seconds,
            review_safe_default=p.review_safe_default,
            latency_budgets_ms=p.latency_budgets_ms,
            degradation=p.degradation,
            cache=p.cache,
            cascade=self.cascade,
            spam=p.spam,
        )

    @activity.defn(name="persist_run")
    def persist_run(self, inp: PersistRunInput) -> None:
        self.store.save_run(inp)

    @activity.defn(name="persist_item")
    def persist_item(self, inp: ItemRecord) -> None:
        self.store.save_item(inp)

    @activity.defn(name="notify")
    def notify(self, notice: Notification) -> None:
        """Record the notice, then POST it to the webhook when one is configured. A failed
        POST raises, so Temporal retries it under the workflow's notice policy; a notice
        never delivered stays in the store as `webhook_pending`."""
        if self.webhook is None:
            self.store.put_notification(notice, "store")
            return
        self.store.put_notification(notice, "webhook_pending")
        self.webhook.post(notice)
        self.store.put_notification(notice, "webhook")

    @activity.defn(name="breaker_acquire")
    def breaker_acquire(self, inp: BreakerCheck) -> BreakerVerdict:
        """May a call to this model be scheduled now? (Open breaker: no doomed attempt.)"""
        decision = self.breakers.acquire(inp.key)
        return BreakerVerdict(
            allowed=decision.allowed,
            state=decision.state,
            retry_at=decision.retry_at,
            reason=decision.reason,
        )
