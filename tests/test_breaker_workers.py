"""The circuit breaker shared by two model-worker PROCESSES (one store): provider 500s
open it, retries in flight stop, later tickets skip the provider with no attempt, and
after the open period one probe closes it again."""

from __future__ import annotations

import asyncio
import sys

import pytest

from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.store import Store
from settings import ROOT
from tests.conftest import running_worker
from tests.fakes.llm_server import Fail, FakeLLMServer, Reply
from tests.test_model_chain import CATALOG, GOOD
from tests.test_processes import Proc, process_settings, stop_worker, worker_env
from tests.test_triage_workflow import start, ticket

KEY = "openai/gpt-4o-mini"


def outcomes(result) -> list[tuple[str, str | None]]:
    return [(s.outcome, s.model) for s in result.steps if s.step == "classify"]


@pytest.mark.timeout(180)
async def test_breaker_opens_and_closes_across_two_worker_processes(env, tmp_path):
    catalog = tmp_path / "models.toml"
    catalog.write_text(CATALOG)
    settings = process_settings(tmp_path).model_copy(
        update={
            "catalog_file": catalog,
            "classify_model": "t-classify",
            "breaker_failure_threshold": 2,
            "breaker_open_seconds": 3.0,
        }
    )
    address = env.client.service_client.config.target_host
    with FakeLLMServer() as fake:
        fake.script(*[Fail(500)] * 10)
        extra = {
            "AIFLOW_CATALOG_FILE": str(catalog),
            "AIFLOW_CLASSIFY_MODEL": "t-classify",
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
            "OPENAI_BASE_URL": fake.openai_base_url,
            "AIFLOW_BREAKER_FAILURE_THRESHOLD": "2",
            "AIFLOW_BREAKER_OPEN_SECONDS": "3",
        }
        procs = [
            Proc(
                f"models-{i}",
                [sys.executable, "worker.py", "--queues", "models"],
                worker_env(tmp_path, settings, address, **extra),
                ROOT,
                tmp_path / f"logs{i}",
            )
            for i in (1, 2)
        ]
        orchestration = settings.model_copy(
            update={
                "openai_api_key": "sk-test-not-a-real-key",
                "openai_base_url": fake.openai_base_url,
            }
        )
        try:
            for proc in procs:
                await proc.wait_event("worker.started", timeout=60)
            async with running_worker(env.client, orchestration, {"orchestration"}):
                # 1: two 500s open the breaker; the third attempt stops (CircuitOpen) and
                # the step falls back to the offline model.
                first = await (await start(env.client, orchestration, ticket())).result()
                assert outcomes(first) == [("error", "gpt-4o-mini"), ("ok", "offline-knn-v1")]
                assert first.steps[2].reasoning.startswith("CircuitOpen: ")
                assert len(fake.requests) == 2
                # 2: open → skipped before any attempt.
                second = await (await start(env.client, orchestration, ticket())).result()
                assert outcomes(second) == [
                    ("skipped:breaker_open", "gpt-4o-mini"),
                    ("ok", "offline-knn-v1"),
                ]
                assert len(fake.requests) == 2
                # 3: after the open period one probe goes out, succeeds, closes it.
                fake.reset_script(Reply(GOOD))
                await asyncio.sleep(3.2)
                third = await (await start(env.client, orchestration, ticket())).result()
                assert outcomes(third) == [("ok", "served-model-2025-01-01")]
                assert len(fake.requests) == 3
            store = Store(settings.store_url)
            [state] = CircuitBreakers(store.engine, BreakerPolicy()).snapshot()
            assert (state.key, state.state, state.failures) == (KEY, "closed", 0)
            store.close()
        finally:
            for proc in procs:
                await stop_worker(proc)
