"""The workflows this deployment runs: each workflow module declares a `SPEC`; MODULES
names aiflow's own, and `AIFLOW_WORKFLOW_MODULES` adds a team's (no edit to aiflow). The
worker registers every spec's workflow class, output schemas and offline answers; `aiflow
workflows` lists them and `aiflow run NAME FILE…` starts items of any of them.

See README, "Write your own workflow".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from temporalio import workflow

MODULES = ("workflows.triage", "workflows.extraction", "workflows.generation")


@dataclass(frozen=True)
class WorkflowSpec:
    """What the worker and the client tools need to know of a workflow."""

    name: str  # what users type: `aiflow run tickets FILE`
    workflow: type  # the @workflow.defn class
    id_prefix: str  # workflow id = id_prefix + business key: one run per item
    summary: str  # one line for `aiflow workflows`
    input_help: str  # what FILE holds
    reader: str  # "module:function" turning a FILE into items (starter/items.py)
    # model step -> default catalogue alias (AIFLOW_STEP_MODELS overrides per step)
    step_models: dict[str, str] = field(default_factory=dict)
    # the structured outputs its prompts name (`output_schema`), by name
    output_schemas: dict[str, Any] = field(default_factory=dict)
    # "module:NAME" of a dict task -> function(variables) -> answer: the offline provider's
    # deterministic answers for its prompts' tasks (activity-side code, loaded by the worker)
    offline_tasks: str | None = None
    prompts_dir: Path | None = None  # its prompt files, when not in data/prompts
    # "module:function(state_dir) -> [paths]": the items `aiflow demo --workflow NAME` runs
    demo_input: str | None = None

    @property
    def type_name(self) -> str:
        """The Temporal workflow type (shown in the Web UI)."""
        return workflow._Definition.must_from_class(self.workflow).name


def specs(extra: Sequence[str] = ()) -> list[WorkflowSpec]:
    """aiflow's workflows, then those of the `extra` modules. Raises ValueError naming
    the module that cannot be imported or declares no SPEC, or a duplicate name."""
    found: list[WorkflowSpec] = []
    for module in (*MODULES, *extra):
        try:
            spec = import_module(module).SPEC
        except ImportError as err:
            raise ValueError(f"workflow module {module!r} cannot be imported: {err}") from None
        except AttributeError:
            raise ValueError(f"workflow module {module!r} declares no SPEC") from None
        if not isinstance(spec, WorkflowSpec):
            raise ValueError(f"{module}.SPEC is not a WorkflowSpec")
        if any(s.name == spec.name or s.id_prefix == spec.id_prefix for s in found):
            raise ValueError(f"{module}: workflow name or id prefix already taken: {spec.name}")
        found.append(spec)
    return found


def spec_named(name: str, extra: Sequence[str] = ()) -> WorkflowSpec | None:
    return next((s for s in specs(extra) if s.name == name), None)


def default_step_models(found: Sequence[WorkflowSpec]) -> dict[str, str]:
    models: dict[str, str] = {}
    for s in found:
        models |= s.step_models
    return models


def output_schemas(found: Sequence[WorkflowSpec]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for s in found:
        schemas |= s.output_schemas
    return schemas


def offline_tasks(found: Sequence[WorkflowSpec]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for s in found:
        if s.offline_tasks:
            module, _, name = s.offline_tasks.partition(":")
            tasks |= getattr(import_module(module), name)
    return tasks
