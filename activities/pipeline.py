"""Local activities of the pipeline: resolve a run's configuration, persist its records.

Both are short I/O against local files or the store, so workflows run them as local
activities (no extra round trip through the server; see design.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity

from activities.store import Store
from contracts import ConfigInput, PersistRunInput, RuleSet, RunConfig


@dataclass(frozen=True)
class RunPolicy:
    """The settings a run pins when it starts (the worker maps Settings onto this)."""

    rules_path: Path
    auto_resolve_confidence: float
    max_qa_regenerations: int
    review_sla_seconds: float
    max_body_chars: int
    model_queue: str


def load_rules(path: Path) -> RuleSet:
    """The rule set in `path`, its version suffixed with the content hash it was read at."""
    raw = path.read_bytes()
    rules = RuleSet.model_validate_json(raw)
    rules.version = f"{rules.version}+{hashlib.sha256(raw).hexdigest()[:8]}"
    return rules


class PipelineActivities:
    def __init__(self, store: Store, policy: RunPolicy) -> None:
        self.store = store
        self.policy = policy
        load_rules(policy.rules_path)  # a broken rule file stops the worker at start

    @activity.defn(name="resolve_run_config")
    def resolve_run_config(self, inp: ConfigInput) -> RunConfig:
        """Read the rule set and policy once; the workflow pins the result for the run."""
        p = self.policy
        return RunConfig(
            rules=load_rules(p.rules_path),
            auto_resolve_confidence=p.auto_resolve_confidence,
            max_qa_regenerations=p.max_qa_regenerations,
            review_sla_seconds=p.review_sla_seconds,
            max_body_chars=p.max_body_chars,
            model_queue=p.model_queue,
        )

    @activity.defn(name="persist_run")
    def persist_run(self, inp: PersistRunInput) -> None:
        self.store.save_run(inp)
