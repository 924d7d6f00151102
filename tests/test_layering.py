"""The whiteboard's arrows, checked on the source: contracts import nothing of ours,
decisions import only contracts, activities never reach into workflows, and workflows
import activities only under `imports_passed_through` (for activity references)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

OURS = (
    "contracts",
    "decisions",
    "workflows",
    "activities",
    "starter",
    "worker",
    "deployment",
    "settings",
)


def imports(package: str) -> dict[str, set[str]]:
    """Our top-level packages each module of `package` imports, outside `with` blocks
    (a workflow's passed-through activity imports are the sanctioned exception)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        guarded = {id(n) for w in ast.walk(tree) if isinstance(w, ast.With) for n in ast.walk(w)}
        names = set()
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
        found[str(path.relative_to(ROOT))] = names & set(OURS)
    return found


def test_contracts_import_only_contracts():
    assert {
        m: i - {"contracts"} for m, i in imports("contracts").items() if i - {"contracts"}
    } == {}


def test_decisions_import_only_contracts_and_decisions():
    allowed = {"contracts", "decisions"}
    assert {m: i - allowed for m, i in imports("decisions").items() if i - allowed} == {}


def test_activities_never_import_workflows_or_starters():
    bad = {m: i & {"workflows", "starter"} for m, i in imports("activities").items()}
    assert {m: i for m, i in bad.items() if i} == {}


def test_workflows_import_activities_only_passed_through():
    bad = {
        m: i & {"activities", "starter", "worker", "deployment", "settings"}
        for m, i in imports("workflows").items()
    }
    assert {m: i for m, i in bad.items() if i} == {}


def test_commands_reach_temporal_through_deployment_and_import_the_worker_only_to_run_it():
    # dev and demo embed a worker; breakers reads the policy the worker builds its breakers with
    embedding = {m for m, i in imports("starter").items() if "worker" in i}
    assert embedding == {"starter/breakers.py", "starter/demo.py", "starter/dev.py"}


def test_deployment_loads_no_provider_sdk_and_no_gateway():
    """Every `aiflow` command imports `deployment`: it must stay light."""
    import subprocess
    import sys

    heavy = ("openai", "anthropic", "activities.gateway", "activities.store", "worker")
    code = f"import sys, deployment; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr


def test_an_activity_profile_is_typed_and_needs_a_retry_policy_and_a_timeout():
    from dataclasses import FrozenInstanceError
    from datetime import timedelta

    import pytest
    from temporalio.common import RetryPolicy

    from workflows.policies import MODEL_ACTIVITY, ActivityProfile

    assert dict(MODEL_ACTIVITY) == {
        "retry_policy": MODEL_ACTIVITY.retry_policy,
        "start_to_close_timeout": timedelta(seconds=60),
        "schedule_to_close_timeout": timedelta(minutes=5),
        "heartbeat_timeout": timedelta(seconds=30),
    }
    with pytest.raises(TypeError, match="start_to_close_timout"):
        ActivityProfile(retry_policy=RetryPolicy(), start_to_close_timout=timedelta(seconds=1))
    with pytest.raises(TypeError, match="retry_policy"):
        ActivityProfile(start_to_close_timeout=timedelta(seconds=1))
    with pytest.raises(ValueError, match="needs a start- or schedule-to-close timeout"):
        ActivityProfile(retry_policy=RetryPolicy())
    with pytest.raises(FrozenInstanceError):
        MODEL_ACTIVITY.retry_policy = RetryPolicy()
