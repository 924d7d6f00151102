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
import json
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import structlog
from pydantic import SecretStr
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.answer_cache import AnswerCache, CacheActivities
from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.catalog import Catalog
from activities.documents import DocumentActivities
from activities.drift import DriftActivities
from activities.gateway import ModelGateway
from activities.pipeline import PipelineActivities, RunPolicy
from activities.prompts import PromptLibrary
from activities.providers.base import ModelProvider
from activities.providers.offline import OfflineConfig, OfflineProvider
from activities.purge import PurgeActivities
from activities.spam import SpamActivities
from activities.store import Store
from activities.telemetry import StoreGauges, prometheus_runtime
from activities.tracing import Tracing
from activities.webhook import Webhook
from contracts import DegradationPolicy
from contracts.cache import CachePolicy
from contracts.spam import SpamPolicy
from deployment import (
    configure_logging,
    connect,
    default_steps,
    prompt_library,
    step_models,
    workflow_specs,
)
from protection.codec import UNENCRYPTED_NOTICE, encrypts
from protection.keys import KeySettingError
from protection.sealed import protection_for
from settings import Settings
from workflows import intake, registry
from workflows.drift import DriftWorkflow
from workflows.purge import PurgeWorkflow
from workflows.search_attributes import ALL_KEYS, SEARCH_ATTRIBUTE_TYPES

WORKFLOWS = [*(s.workflow for s in registry.specs()), DriftWorkflow, PurgeWorkflow]  # aiflow's own
log = structlog.get_logger("aiflow.worker")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with wire models and pure decision modules passed through (imported
    once per process rather than once per run)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "contracts",
            "workflows.intake",
            "workflows.mailtext",
            "workflows.guard",
            "workflows.qa",
            "decisions",
            # intake's e-mail libraries: pure functions of their input (no DNS is asked)
            "email_validator",
            "idna",
            "inscriptis",
            "lxml",
        )
    )


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
    """One provider (and one SDK client, max_retries=0) per enabled provider, per process.
    Vendor SDKs are imported only when their provider is enabled (anthropic alone takes
    ~2 s to import: every `aiflow` command would pay it)."""
    timeout = settings.provider_timeout_seconds

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    def openai(key: str | None, base_url: str | None, **kw: str) -> ModelProvider:
        from activities.providers.openai_provider import OpenAIProvider, build_openai_client

        return OpenAIProvider(build_openai_client(key, base_url, timeout), **kw)

    def anthropic() -> ModelProvider:
        from activities.providers.anthropic_provider import (
            AnthropicProvider,
            build_anthropic_client,
        )

        key, url = secret(settings.anthropic_api_key), settings.anthropic_base_url
        return AnthropicProvider(build_anthropic_client(key, url, timeout))

    builders = {
        "offline": lambda: OfflineProvider(
            OfflineConfig(
                latency_ms=settings.offline_latency_ms,
                latency_jitter_ms=settings.offline_latency_jitter_ms,
                fault_rate=settings.offline_fault_rate,
                fault_kinds=settings.offline_fault_kinds,
                fault_max_attempt=settings.offline_fault_max_attempt,
                data_dir=settings.data_dir / "offline",
            ),
            registry.offline_tasks(workflow_specs(settings)),
        ),
        "openai": lambda: openai(
            secret(settings.openai_api_key), settings.openai_base_url, api=settings.openai_api
        ),
        "anthropic": anthropic,
        "local": lambda: openai(
            secret(settings.local_api_key) or "none", settings.local_base_url, name="local"
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
        step_models=step_models(settings),
        default_steps=frozenset(default_steps(settings)),
        provider_queues={p: settings.provider_queue(p) for p in settings.enabled_providers},
        prompt_versions=settings.prompt_versions,
        run_budget_usd=settings.run_budget_usd,
        budget_degrade_ratio=settings.budget_degrade_ratio,
        step_budgets_usd=settings.step_budgets_usd,
        review_escalation_sla_seconds=settings.review_escalation_sla_seconds,
        review_safe_default=settings.review_safe_default,
        latency_budgets_ms=settings.step_latency_budgets_ms,
        degradation=degradation_for(settings),
        cache=cache_policy(settings),
        cascade=cascade_for(settings, catalog),
        spam=SpamPolicy(enabled=settings.spam_detection),
    )


# The offline small tiers, for steps still on their offline default alias (a deployment
# that names its own models names its own cascade): default alias -> (small, escalate under).
OFFLINE_CASCADE = {
    "offline-classify": ("offline-classify-small", 0.8),
    "offline-draft": ("offline-draft-small", None),
}
THRESHOLD_FILE = "cache/threshold.json"  # under the data dir: the STS-B calibration


def cache_policy(settings: Settings) -> CachePolicy:
    """AIFLOW_CACHE, with the similarity threshold from the calibration file unless set."""
    policy = settings.cache
    if "min_similarity" in policy.model_fields_set or not (policy.enabled and policy.semantic):
        return policy
    path = settings.data_dir / THRESHOLD_FILE
    calibrated = json.loads(path.read_text())["threshold"]
    return policy.model_copy(update={"min_similarity": float(calibrated)})


def cascade_for(settings: Settings, catalog: Catalog) -> dict[str, tuple[str, float | None]]:
    """Each model step's small tier: AIFLOW_CASCADE, else the offline small tiers."""
    if settings.cascade is not None:
        return {s: (c.small, c.min_confidence) for s, c in settings.cascade.items()}
    return {
        step: OFFLINE_CASCADE[alias]
        for step, alias in step_models(settings).items()
        if alias in OFFLINE_CASCADE and OFFLINE_CASCADE[alias][0] in catalog.aliases
    }


def degradation_for(settings: Settings) -> dict[str, DegradationPolicy]:
    """Each step's policy: its own fields over "default"'s over the built-in defaults."""
    default = settings.degradation.get("default", DegradationPolicy())
    policies = {"default": default}
    for step, policy in settings.degradation.items():
        if step != "default":
            policies[step] = default.model_copy(update=policy.model_dump(exclude_unset=True))
    return policies


# Called with the gateway and each model Worker's keyword arguments just before the Worker
# is built; may add to them (interceptors, poller behaviour, more gateway activities).
ModelWorkerHook = Callable[[ModelGateway, dict[str, Any]], None]


def breaker_policy(settings: Settings) -> BreakerPolicy:
    """The policy from the `AIFLOW_BREAKER_*` settings."""
    values = {f: getattr(settings, f"breaker_{f}", None) for f in BreakerPolicy.model_fields}
    return BreakerPolicy(**{f: v for f, v in values.items() if v is not None})


def breakers_for(settings: Settings, store: Store) -> CircuitBreakers:
    """The fleet-wide circuit breakers, kept in the store."""
    return CircuitBreakers(store.engine, breaker_policy(settings))


def build_workers(
    client: Client,
    settings: Settings,
    store: Store,
    executor: ThreadPoolExecutor,
    queues: set[str] | None = None,
    *,
    providers: dict[str, ModelProvider] | None = None,
    model_worker_hook: ModelWorkerHook | None = None,
) -> list[Worker]:
    """One Worker for orchestration (workflows + local activities), and one per enabled
    provider's model queue, so each provider's rate limit is enforced by the server.

    For tests and the benchmark, which run this production path as it is: `providers`
    replaces `build_providers(settings)` (a wrapped or scripted provider), and
    `model_worker_hook` adjusts each model Worker's options."""
    queues = queues or {"orchestration", "models"}
    grace = timedelta(seconds=settings.shutdown_grace_seconds)
    catalog = Catalog.load(settings.catalog_path)
    specs = workflow_specs(settings)
    prompts = prompt_library(settings)
    breakers = breakers_for(settings, store)
    breakers.create_schema()
    workers = []
    if "orchestration" in queues:
        intake.warm_up()
        webhook = settings.notify_webhook_url
        drift_hook = settings.drift_webhook_url
        drift = DriftActivities(
            store, Webhook(drift_hook.get_secret_value()) if drift_hook else None
        )
        pipeline = PipelineActivities(
            store,
            run_policy(settings, catalog, prompts),
            breakers,
            Webhook(webhook.get_secret_value()) if webhook else None,
        )
        documents = DocumentActivities(store)
        cache = CacheActivities(AnswerCache(store))
        spam = SpamActivities()
        workers.append(
            Worker(
                client,
                task_queue=settings.orchestration_queue,
                workflows=[*(s.workflow for s in specs), DriftWorkflow, PurgeWorkflow],
                activities=[
                    pipeline.resolve_run_config,
                    pipeline.persist_run,
                    pipeline.persist_item,
                    pipeline.breaker_acquire,
                    pipeline.notify,
                    cache.cache_lookup,
                    cache.cache_record,
                    spam.spam_score,
                    documents.ingest_document,
                    drift.record_features,
                    drift.snapshot,
                    drift.alert,
                    PurgeActivities(store.engine).purge,
                ],
                activity_executor=executor,
                max_concurrent_local_activities=settings.max_concurrent_local_activities,
                workflow_runner=workflow_runner(),
                graceful_shutdown_timeout=grace,
            )
        )
    if "models" in queues:
        webhook = settings.notify_webhook_url
        if providers is None:
            providers = build_providers(settings)
        gateway = ModelGateway(
            providers,
            catalog,
            prompts,
            store,
            breakers,
            max_calls_in_flight=settings.max_concurrent_model_calls or None,
            alert_webhook=Webhook(webhook.get_secret_value()) if webhook else None,
            schemas=registry.output_schemas(specs),
        )
        for provider in gateway.providers:
            options: dict[str, Any] = {
                "task_queue": settings.provider_queue(provider),
                "activities": [gateway.model_call, gateway.model_call_batch],
                "max_concurrent_activities": settings.max_concurrent_model_activities,
                "max_task_queue_activities_per_second": settings.provider_rate_limits.get(provider),
                "graceful_shutdown_timeout": grace,
            }
            if model_worker_hook is not None:
                model_worker_hook(gateway, options)
            workers.append(Worker(client, **options))
    return workers


async def run_workers(
    settings: Settings,
    client: Client,
    stop: asyncio.Event,
    queues: set[str] | None = None,
    *,
    model_worker_hook: ModelWorkerHook | None = None,
) -> None:
    """Run until `stop` is set, then shut down gracefully (in-flight activities get the
    grace period to finish). `model_worker_hook` as in `build_workers`."""
    store = Store(settings.store_url, protection=protection_for(settings))
    store.create_schema()
    if settings.search_attributes != "off":
        register = settings.search_attributes == "register"
        await ensure_search_attributes(client, ALL_KEYS, register=register)
    executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_local_activities)
    providers = build_providers(settings) if "models" in (queues or {"models"}) else {}
    try:
        async with AsyncExitStack() as stack:
            for provider in providers.values():  # closed after the workers have stopped
                if hasattr(provider, "aclose"):
                    stack.push_async_callback(provider.aclose)
            workers = build_workers(
                client,
                settings,
                store,
                executor,
                queues,
                providers=providers,
                model_worker_hook=model_worker_hook,
            )
            for w in workers:
                await stack.enter_async_context(w)
            gauges = None
            if "orchestration" in (queues or {"orchestration"}):
                runtime = client.service_client.config.runtime or Runtime.default()
                sampler = StoreGauges(runtime.metric_meter, store, breakers_for(settings, store))
                gauges = asyncio.create_task(
                    sampler.run(settings.metrics_poll_seconds, stop, executor)
                )
            log.info(
                "worker.started",
                namespace=client.namespace,
                queues=sorted(queues or {"orchestration", "models"}),
            )
            await stop.wait()
            log.info("worker.stopping", grace_seconds=settings.shutdown_grace_seconds)
            if gauges is not None:
                gauges.cancel()  # a sample in flight finishes on its thread
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
        runtime = prometheus_runtime(settings.metrics_address) if settings.metrics_address else None
        tracing = None
        if settings.otel_endpoint:
            tracing = Tracing(settings.otel_endpoint, settings.otel_service_name)
            log.info("tracing.exporting", endpoint=settings.otel_endpoint)
        client = await connect(
            settings, runtime=runtime, plugins=[tracing.plugin] if tracing else None
        )
        if encrypts(client.data_converter):
            log.info("payloads.encrypted", key_id=settings.keyring().active)
        else:
            log.warning("payloads.unencrypted", notice=UNENCRYPTED_NOTICE)
        if runtime is not None:
            log.info("metrics.serving", url=f"http://{settings.metrics_address}/metrics")
        try:
            await run_workers(settings, client, stop, queues)
        finally:
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)

    try:
        asyncio.run(_run())
    except (RuntimeError, RPCError, KeySettingError) as err:  # cannot connect, keys, namespace
        log.error("worker.failed", error=str(err))
        return 1
    finally:
        gc.collect()  # free the client before interpreter shutdown (temporalio exit abort)
    return 0


if __name__ == "__main__":
    sys.exit(main())
