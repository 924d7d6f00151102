"""An aiflow worker process: settings → logging → client → one Worker per task queue →
graceful shutdown on SIGTERM/SIGINT.

The Temporal connection comes from Temporal's environment configuration, so the same
worker runs against the local dev server, a self-hosted cluster or Temporal Cloud:

    TEMPORAL_ADDRESS=temporal.example:7233 TEMPORAL_NAMESPACE=prod python worker.py
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta

import structlog
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.catalog import Catalog
from activities.gateway import ModelGateway
from activities.pipeline import PipelineActivities, RunPolicy
from activities.prompts import PromptLibrary
from activities.providers.anthropic_provider import AnthropicProvider, build_anthropic_client
from activities.providers.base import ModelProvider
from activities.providers.offline import OfflineConfig, OfflineProvider
from activities.providers.openai_provider import OpenAIProvider, build_openai_client
from activities.store import Store
from settings import Settings
from workflows.search_attributes import ALL_KEYS, SEARCH_ATTRIBUTE_TYPES
from workflows.triage import TriageWorkflow

WORKFLOWS = [TriageWorkflow]
DEFAULT_ADDRESS = "localhost:7233"
log = structlog.get_logger("aiflow.worker")


def configure_logging(settings: Settings) -> None:
    """structlog once per process: console in a terminal, JSON otherwise."""
    json_logs = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with wire models and pure decision modules passed through (imported
    once per process rather than once per run)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "contracts", "workflows.intake", "workflows.rules", "workflows.qa"
        )
    )


def configured_address() -> str | None:
    """The address Temporal's env config names (TEMPORAL_ADDRESS or a profile), if any."""
    return ClientConfig.load_client_connect_config().get("target_host")


async def connect(settings: Settings | None = None, target_host: str | None = None) -> Client:
    """A client from Temporal's env config (TEMPORAL_* variables, TOML profiles);
    `target_host` overrides the address (the embedded dev server)."""
    # The embedded server takes nothing from a developer's own profile (TLS, API key).
    config = (
        {"target_host": target_host} if target_host else ClientConfig.load_client_connect_config()
    )
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return await Client.connect(**config, data_converter=pydantic_data_converter)


class SearchAttributesMissing(RuntimeError):
    pass


async def ensure_search_attributes(
    client: Client, keys: list[SearchAttributeKey], *, register: bool
) -> None:
    """Make sure aiflow's search attributes exist before any workflow upserts them (an
    unknown attribute would leave the workflow task failing over and over).

    register=True adds the missing ones (dev server, self-hosted); False only checks and
    refuses to start, for namespaces whose attributes are managed elsewhere (Cloud).
    """
    ns = client.namespace
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=ns)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {k.name: int(k.indexed_value_type) for k in keys if k.name not in known}
    if not missing:
        return
    if not register:
        howto = "; ".join(
            f"temporal operator search-attribute create --namespace {ns} --name {k.name} "
            f"--type {SEARCH_ATTRIBUTE_TYPES[k.indexed_value_type.name]}"
            for k in keys
            if k.name in missing
        )
        raise SearchAttributesMissing(
            f"namespace {ns!r} lacks search attributes {sorted(missing)}; create them: {howto}"
        )
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=ns, search_attributes=missing)
    )
    log.info("search_attributes.registered", names=sorted(missing))


def build_providers(settings: Settings) -> dict[str, ModelProvider]:
    """One provider (and one SDK client, max_retries=0) per enabled provider, per process."""
    timeout = settings.provider_timeout_seconds
    secret = lambda v: v.get_secret_value() if v else None  # noqa: E731
    builders = {
        "offline": lambda: OfflineProvider(
            OfflineConfig(
                latency_ms=settings.offline_latency_ms,
                latency_jitter_ms=settings.offline_latency_jitter_ms,
                fault_rate=settings.offline_fault_rate,
                fault_kinds=settings.offline_fault_kinds,
                fault_max_attempt=settings.offline_fault_max_attempt,
                data_dir=settings.data_dir / "offline",
            )
        ),
        "openai": lambda: OpenAIProvider(
            build_openai_client(secret(settings.openai_api_key), settings.openai_base_url, timeout),
            api=settings.openai_api,
        ),
        "anthropic": lambda: AnthropicProvider(
            build_anthropic_client(
                secret(settings.anthropic_api_key), settings.anthropic_base_url, timeout
            )
        ),
        "local": lambda: OpenAIProvider(
            build_openai_client(
                secret(settings.local_api_key) or "none", settings.local_base_url, timeout
            ),
            name="local",
        ),
    }
    return {name: builders[name]() for name in settings.enabled_providers}


def run_policy(settings: Settings, catalog: Catalog, prompts: PromptLibrary) -> RunPolicy:
    return RunPolicy(
        rules_path=settings.rules_path,
        auto_resolve_confidence=settings.auto_resolve_confidence,
        max_qa_regenerations=settings.max_qa_regenerations,
        review_sla_seconds=settings.review_sla_seconds,
        max_body_chars=settings.max_body_chars,
        catalog=catalog,
        prompts=prompts,
        step_models={"classify": settings.classify_model, "draft": settings.draft_model},
        provider_queues={p: settings.provider_queue(p) for p in settings.enabled_providers},
        prompt_versions=settings.prompt_versions,
        run_budget_usd=settings.run_budget_usd,
        budget_degrade_ratio=settings.budget_degrade_ratio,
        step_budgets_usd=settings.step_budgets_usd,
    )


def build_workers(
    client: Client,
    settings: Settings,
    store: Store,
    executor: ThreadPoolExecutor,
    queues: set[str] | None = None,
) -> list[Worker]:
    """One Worker for orchestration (workflows + local activities), and one per enabled
    provider's model queue, so each provider's rate limit is enforced by the server."""
    queues = queues or {"orchestration", "models"}
    grace = timedelta(seconds=settings.shutdown_grace_seconds)
    catalog = Catalog.load(settings.catalog_path)
    prompts = PromptLibrary(settings.data_dir / "prompts")
    breakers = CircuitBreakers(
        store.engine,
        BreakerPolicy(
            failure_threshold=settings.breaker_failure_threshold,
            window_seconds=settings.breaker_window_seconds,
            open_seconds=settings.breaker_open_seconds,
            probe_timeout_seconds=settings.breaker_probe_timeout_seconds,
        ),
    )
    breakers.create_schema()
    workers = []
    if "orchestration" in queues:
        pipeline = PipelineActivities(store, run_policy(settings, catalog, prompts), breakers)
        workers.append(
            Worker(
                client,
                task_queue=settings.orchestration_queue,
                workflows=WORKFLOWS,
                activities=[
                    pipeline.resolve_run_config,
                    pipeline.persist_run,
                    pipeline.breaker_acquire,
                ],
                activity_executor=executor,
                max_concurrent_local_activities=settings.max_concurrent_local_activities,
                workflow_runner=workflow_runner(),
                graceful_shutdown_timeout=grace,
            )
        )
    if "models" in queues:
        gateway = ModelGateway(build_providers(settings), catalog, prompts, store, breakers)
        for provider in gateway.providers:
            workers.append(
                Worker(
                    client,
                    task_queue=settings.provider_queue(provider),
                    activities=[gateway.model_call],
                    max_concurrent_activities=settings.max_concurrent_model_activities,
                    max_task_queue_activities_per_second=settings.provider_rate_limits.get(
                        provider
                    ),
                    graceful_shutdown_timeout=grace,
                )
            )
    return workers


async def run_workers(
    settings: Settings, client: Client, stop: asyncio.Event, queues: set[str] | None = None
) -> None:
    """Run until `stop` is set, then shut down gracefully (in-flight activities get the
    grace period to finish)."""
    store = Store(settings.store_url)
    store.create_schema()
    if settings.search_attributes != "off":
        register = settings.search_attributes == "register"
        await ensure_search_attributes(client, ALL_KEYS, register=register)
    executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_local_activities)
    try:
        async with AsyncExitStack() as stack:
            for w in build_workers(client, settings, store, executor, queues):
                await stack.enter_async_context(w)
            log.info(
                "worker.started",
                namespace=client.namespace,
                queues=sorted(queues or {"orchestration", "models"}),
            )
            await stop.wait()
            log.info("worker.stopping", grace_seconds=settings.shutdown_grace_seconds)
    finally:
        executor.shutdown(wait=True)
        store.close()
    log.info("worker.stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aiflow worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--queues",
        default="orchestration,models",
        help="comma-separated: orchestration, models (default: both)",
    )
    args = parser.parse_args(argv)
    queues = {q.strip() for q in args.queues.split(",") if q.strip()}
    if not queues <= {"orchestration", "models"}:
        parser.error(f"unknown queue(s): {sorted(queues - {'orchestration', 'models'})}")
    settings = Settings()
    configure_logging(settings)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = await connect(settings)
        await run_workers(settings, client, stop, queues)

    try:
        asyncio.run(_run())
    except (RuntimeError, RPCError) as err:  # cannot connect, unknown namespace, attributes
        log.error("worker.failed", error=str(err))
        return 1
    finally:
        gc.collect()  # free the client before interpreter shutdown (temporalio exit abort)
    return 0


if __name__ == "__main__":
    sys.exit(main())
