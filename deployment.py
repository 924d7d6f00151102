"""What a deployment is configured with and how to reach it: the one place clients
(the `aiflow` commands, starters) and workers read the Temporal connection, logging and
the registered workflows, their prompts and models from settings.

Light on purpose: no provider SDK, no gateway, so every `aiflow` command starts fast.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from activities import logs
from activities.prompts import PromptLibrary
from protection.codec import data_converter
from settings import Settings
from workflows import registry

_OS_REASON_RE = re.compile(r'(?:message|error): "([^"]{1,200})"')  # in the SDK's connect error
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class TemporalConfigError(RuntimeError):
    """Temporal's env config cannot be read (a broken TOML file, an unknown profile)."""


class TemporalUnreachable(RuntimeError):
    """No Temporal server answers at the address a client was configured with."""

    def __init__(self, address: str, source: str, reason: str):
        self.address, self.source, self.reason = address, source, reason
        super().__init__(f"cannot reach Temporal at {address} ({source}): {reason}")


@dataclass(frozen=True)
class Target:
    """Where a client connects, and which setting said so (named on errors)."""

    address: str
    source: str  # "from TEMPORAL_ADDRESS", "from AIFLOW_DEV_PORT", "default", ...
    config: dict = field(default_factory=dict, repr=False)  # Client.connect keywords


_connected: dict[str, Target] = {}  # address -> its Target, of each client connected


def configure_logging(settings: Settings) -> None:
    """structlog + stdlib once per process (activities/logs.py): console in a terminal,
    JSON otherwise, Temporal ids on every event, sensitive values redacted."""
    logs.configure_logging(settings.log_level, settings.log_format)


def _env_config() -> dict:
    try:
        return dict(ClientConfig.load_client_connect_config())
    except RuntimeError as err:  # the bridge's ConfigError
        raise TemporalConfigError(
            f"invalid Temporal configuration: {str(err).splitlines()[0][:300]}"
        ) from None


def configured_address() -> str | None:
    """The address Temporal's env config names (TEMPORAL_ADDRESS or a profile), if any."""
    return _env_config().get("target_host")


def dev_address(settings: Settings) -> str:
    """The embedded dev server's address (AIFLOW_DEV_IP, AIFLOW_DEV_PORT), to connect to."""
    host = _WILDCARD.get(settings.dev_ip, settings.dev_ip)
    return f"[{host}]:{settings.dev_port}" if ":" in host else f"{host}:{settings.dev_port}"


def temporal_target(settings: Settings) -> Target:
    """The one rule every client follows: Temporal's env config (TEMPORAL_ADDRESS, a TOML
    profile) if it names an address; else the dev server's AIFLOW_DEV_IP:AIFLOW_DEV_PORT
    (127.0.0.1:7233 by default), so a moved dev server is the one every command uses."""
    config = _env_config()
    if address := config.get("target_host"):
        if os.environ.get("TEMPORAL_ADDRESS"):
            source = "from TEMPORAL_ADDRESS"
        else:
            source = f"from Temporal profile {os.environ.get('TEMPORAL_PROFILE') or 'default'!r}"
        return Target(address, source, config)
    named = [
        f"AIFLOW_{f.upper()}" for f in ("dev_ip", "dev_port") if f in settings.model_fields_set
    ]
    address = dev_address(settings)
    return Target(address, f"from {' and '.join(named)}" if named else "default", config)


def connected_target(address: str | None = None) -> Target | None:
    """The Target this process connected a client to at `address` (without one: the
    latest), so an error later in a command can still say where the address came from."""
    if address is None:
        return next(reversed(_connected.values()), None)
    return _connected.get(address)


def unreachable_reason(err: Exception) -> str:
    """The SDK's connect error in a few words ("Connection refused", "Timeout expired")."""
    text = str(err)
    found = _OS_REASON_RE.search(text[:2000])
    reason = found.group(1) if found else text.removeprefix("Failed client connect: ")
    return reason.splitlines()[0][:200] if reason else type(err).__name__


async def connect(
    settings: Settings | None = None,
    target_host: str | None = None,
    runtime: Runtime | None = None,
    plugins: list | None = None,
) -> Client:
    """A client of the address `temporal_target` picks (TEMPORAL_* variables and TOML
    profiles, else the dev server's port); `target_host` overrides it (the embedded dev
    server); `runtime` carries the process's metrics endpoint. TemporalUnreachable, naming
    the address and its source, if no server answers there."""
    settings = settings or Settings()
    if target_host:  # the embedded server takes nothing from a developer's profile (TLS, key)
        target = Target(target_host, "the embedded dev server", {"target_host": target_host})
    else:
        target = temporal_target(settings)
    config = {**target.config, "target_host": target.address}
    _connected.pop(target.address, None)
    _connected[target.address] = target
    try:
        return await Client.connect(
            **config,
            data_converter=data_converter(settings),
            runtime=runtime,
            plugins=plugins or [],
        )
    except (RuntimeError, ValueError) as err:  # refused, timed out, no such host, bad port
        raise TemporalUnreachable(target.address, target.source, unreachable_reason(err)) from err


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
