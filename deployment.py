"""What a deployment is configured with and how to reach it: the one place clients
(the `aiflow` commands, starters) and workers read the Temporal connection, logging and
the registered workflows, their prompts and models from settings.

Light on purpose: no provider SDK, no gateway, so every `aiflow` command starts fast.
"""

from __future__ import annotations

import os
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from activities import logs
from activities.prompts import PromptLibrary
from settings import Settings
from workflows import registry

DEFAULT_ADDRESS = "localhost:7233"


def configure_logging(settings: Settings) -> None:
    """structlog + stdlib once per process (activities/logs.py): console in a terminal,
    JSON otherwise, Temporal ids on every event, sensitive values redacted."""
    logs.configure_logging(settings.log_level, settings.log_format)


def configured_address() -> str | None:
    """The address Temporal's env config names (TEMPORAL_ADDRESS or a profile), if any."""
    return ClientConfig.load_client_connect_config().get("target_host")


async def connect(
    settings: Settings | None = None,
    target_host: str | None = None,
    runtime: Runtime | None = None,
    plugins: list | None = None,
) -> Client:
    """A client from Temporal's env config (TEMPORAL_* variables, TOML profiles);
    `target_host` overrides the address (the embedded dev server); `runtime` carries the
    process's metrics endpoint."""
    # The embedded server takes nothing from a developer's own profile (TLS, API key).
    config = (
        {"target_host": target_host} if target_host else ClientConfig.load_client_connect_config()
    )
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return await Client.connect(
        **config,
        data_converter=pydantic_data_converter,
        runtime=runtime,
        plugins=plugins or [],
    )


def workflow_specs(settings: Settings) -> list[registry.WorkflowSpec]:
    """aiflow's workflows and those AIFLOW_WORKFLOW_MODULES adds (ValueError if one is
    broken: the worker stops at start, naming it). Modules are found on the path and in
    the working directory."""
    if settings.workflow_modules and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    return registry.specs(settings.workflow_modules)


def prompt_library(settings: Settings) -> PromptLibrary:
    """data/prompts, and the prompt folders of the workflows a deployment adds."""
    extra = [s.prompts_dir for s in workflow_specs(settings) if s.prompts_dir]
    return PromptLibrary(settings.data_dir / "prompts", *extra)


def step_models(settings: Settings) -> dict[str, str]:
    """Each model step's catalogue alias: AIFLOW_STEP_MODELS over the classify/draft
    settings over the defaults the registered workflows declare."""
    return {
        **registry.default_step_models(workflow_specs(settings)),
        "classify": settings.classify_model,
        "draft": settings.draft_model,
        **settings.step_models,
    }


def default_steps(settings: Settings) -> set[str]:
    """The steps left on their workflow's default alias (no setting names them)."""
    named = {"classify", "draft", *settings.step_models}
    return set(registry.default_step_models(workflow_specs(settings))) - named
