"""The model worker the benchmark measures: aiflow's own `worker.build_workers(...,
queues={"models"})`, given a counted offline provider and the timing interceptor through
its hooks, plus the benchmark's experiments (response log variants, pollers, the simulated
model: see MODELS)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum, Worker

import worker as aiflow_worker
from activities.gateway import ModelGateway
from activities.providers.base import ModelResponse
from activities.response_log import ResponseLog
from activities.store import ResponseKey, Store
from bench.instruments import CountingProvider, Marks, TimingInterceptor
from settings import Settings

MODELS = {
    "remote": "offline answers memoised per ticket, latency only",
    "offline": "kNN on every call, in the worker's event loop",
    "http": "the openai client over HTTP to a local OpenAI-compatible server",
}
RESPONSE_LOGS = {
    "group": "group commit (aiflow's default)",
    "single": "one transaction per answer",
    "off": "no response log (experiment: what it costs)",
}


@dataclass
class Experiments:
    response_log: str = "group"
    batch: int = 1  # calls per activity: >1 uses the gateway's model_call_batch
    model: str = "remote"  # a key of MODELS
    activity_pollers: int | None = None  # PollerBehaviorSimpleMaximum(n)
    poller_autoscale: tuple[int, int, int] | None = None  # (min, max, initial)


@dataclass
class ModelWorker:
    worker: Worker
    counter: CountingProvider
    gateway: ModelGateway
    marks: Marks = field(default_factory=dict)


class UnloggedStore(Store):
    """Experiment `--response-log off`: the gateway finds nothing and records nothing."""

    def get_response(self, workflow_id: str, step: str, request_hash: str) -> ModelResponse | None:
        return None

    def put_responses(self, rows: list[ResponseKey]) -> None:
        return None


def memoised(offline: Any) -> Any:
    """`--model remote` (the default): the offline provider's kNN runs once per distinct
    ticket, so a call costs the worker no model CPU, as a remote API's model does not."""
    memo: dict[str, Any] = {}
    knn = offline.classify

    def classify(variables: dict[str, Any]) -> Any:
        key = json.dumps(variables, sort_keys=True, default=str)
        if key not in memo:
            memo[key] = knn(variables)
        return memo[key]

    offline.classify = classify
    return offline


def open_store(settings: Settings, exp: Experiments) -> Store:
    store = (UnloggedStore if exp.response_log == "off" else Store)(settings.store_url)
    store.create_schema()
    return store


def build_model_worker(
    client: Client,
    settings: Settings,
    store: Store,
    executor: ThreadPoolExecutor,
    exp: Experiments,
) -> ModelWorker:
    marks: Marks = {}
    built_providers = aiflow_worker.build_providers(settings)
    if exp.model == "http":
        name, provider = "local", built_providers["local"]
    else:
        offline = built_providers["offline"]
        name, provider = "offline", memoised(offline) if exp.model == "remote" else offline
    counter = CountingProvider(provider, marks)
    built: dict[str, ModelGateway] = {}

    def hook(gateway: ModelGateway, options: dict[str, Any]) -> None:
        built["gateway"] = gateway
        if exp.response_log == "single":
            gateway.responses = ResponseLog(store, group_commit=False)
        if exp.poller_autoscale:
            lo, hi, init = exp.poller_autoscale
            options["activity_task_poller_behavior"] = PollerBehaviorAutoscaling(lo, hi, init)
        elif exp.activity_pollers:
            options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
                exp.activity_pollers
            )
        options["interceptors"] = [*options.get("interceptors", []), TimingInterceptor(marks)]

    (worker,) = aiflow_worker.build_workers(
        client,
        settings,
        store,
        executor,
        queues={"models"},
        providers={name: counter},
        model_worker_hook=hook,
    )
    return ModelWorker(worker, counter, built["gateway"], marks)
