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
from workflows.rules import check_rules


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
    def __init__(self, store: Store, policy: RunPolicy) -> None:
        self.store = store
        self.policy = policy
        # A broken rule file stops the worker at start; one broken later (a bad edit on a
        # running worker) leaves new runs on the last good rule set instead of failing them.
        self.last_good_rules = load_rules(policy.rules_path)

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
            model_queue=p.model_queue,
        )

    @activity.defn(name="persist_run")
    def persist_run(self, inp: PersistRunInput) -> None:
        self.store.save_run(inp)
