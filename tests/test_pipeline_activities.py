"""The run-config activity: rule files are validated, versioned by content, and a bad edit
on a running worker keeps the last good rule set."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.catalog import Catalog
from activities.pipeline import PipelineActivities, RunPolicy, load_rules
from activities.prompts import PromptLibrary
from activities.store import Store
from contracts import ConfigInput
from settings import Settings
from worker import run_policy

RULES = Path(__file__).resolve().parents[1] / "data" / "rules" / "triage-v1.json"


def policy(path: Path) -> RunPolicy:
    settings = Settings(_env_file=None, max_body_chars=100, model_queue="m")
    catalog = Catalog.load(settings.catalog_path)
    prompts = PromptLibrary(settings.data_dir / "prompts")
    return replace(run_policy(settings, catalog, prompts), rules_path=path)


def test_version_carries_the_content_hash(tmp_path):
    import hashlib

    digest = hashlib.sha256(RULES.read_bytes()).hexdigest()[:8]
    assert load_rules(RULES).version == f"triage-v1+{digest}"


def test_invalid_rule_file_is_refused(tmp_path):
    bad = tmp_path / "rules.json"
    data = json.loads(RULES.read_text())
    data["rules"][0]["when"]["any_patterns"] = ["(unclosed"]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="invalid pattern"):
        load_rules(bad)


def test_bad_edit_on_a_running_worker_keeps_last_good_rules(tmp_path):
    path = tmp_path / "rules.json"
    shutil.copy(RULES, path)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    acts = PipelineActivities(store, policy(path), CircuitBreakers(store.engine, BreakerPolicy()))
    env = ActivityEnvironment()
    good = env.run(acts.resolve_run_config, ConfigInput(workflow_id="w"))
    path.write_text("{not json")
    after = env.run(acts.resolve_run_config, ConfigInput(workflow_id="w"))
    assert after.rules == good.rules
    assert after.max_body_chars == 100
    assert [(t.alias, t.provider, t.model, t.queue) for t in after.models["classify"]] == [
        ("offline-classify", "offline", "offline-knn-v1", "m-offline")
    ]
    files = (Settings(_env_file=None).data_dir / "prompts").glob("*.toml")
    assert sorted(after.prompts) == sorted({f.name.rsplit(".", 2)[0] for f in files})
    assert {"triage.classify", "triage.draft"} <= set(after.prompts)
    assert after.prompts["triage.draft"].version == "v1"
    store.close()


def test_a_catalogue_without_a_default_alias_leaves_that_step_unresolved(tmp_path):
    """An operator's own catalogue from before a workflow existed: the worker still starts
    (that workflow's step is unresolved), but an alias the operator named must exist."""
    mine = tmp_path / "models.toml"
    shipped = Settings(_env_file=None).catalog_path.read_text()
    mine.write_text(shipped.replace('offline-extract = ["offline-extract-v1"]\n', ""))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    breakers = CircuitBreakers(store.engine, BreakerPolicy())

    def activities(**overrides) -> PipelineActivities:
        settings = Settings(_env_file=None, model_queue="m", catalog_file=mine, **overrides)
        prompts = PromptLibrary(settings.data_dir / "prompts")
        return PipelineActivities(
            store, run_policy(settings, Catalog.load(mine), prompts), breakers
        )

    assert "extract" not in activities().models
    assert [t.model for t in activities().models["classify"]] == ["offline-knn-v1"]
    with pytest.raises(KeyError, match="unknown model alias 'offline-extract'"):
        activities(step_models={"extract": "offline-extract"})
