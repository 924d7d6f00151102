"""Double pay after a crash: a model worker PROCESS is SIGKILLed after the provider
answered and the gateway recorded the answer, before the activity's result reached
Temporal. A second worker process runs the retry; the provider must not be asked again.

The triage workflow's model profile notices a dead worker after its 30 s heartbeat
timeout; to keep the test short, a small workflow calls the same `model_call` activity
with the same profile except a 5 s heartbeat timeout."""

from __future__ import annotations

import signal
import sys
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.catalog import Catalog
from activities.pipeline import model_chain, pinned_prompts
from activities.prompts import PromptLibrary
from activities.store import ResponseRow, Store
from contracts import ModelStepInput, ModelStepResult
from settings import ROOT
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.test_model_chain import CATALOG, GOOD
from tests.test_processes import Proc, process_settings, stop_worker, worker_env
from worker import run_policy
from workflows.policies import MODEL_ACTIVITY

HEARTBEAT = timedelta(seconds=5)  # the second worker takes about as long to start


@workflow.defn(name="aiflow-test-one-model-call")
class OneModelCall:
    @workflow.run
    async def run(self, inp: ModelStepInput) -> ModelStepResult:
        return await workflow.execute_activity(
            "model_call",
            inp,
            task_queue=inp.target.queue,
            result_type=ModelStepResult,
            **replace(MODEL_ACTIVITY, heartbeat_timeout=HEARTBEAT),
        )


@pytest.mark.timeout(120)
async def test_a_worker_killed_after_the_answer_was_recorded_does_not_pay_twice(env, tmp_path):
    catalog = tmp_path / "models.toml"
    catalog.write_text(CATALOG)
    fake = FakeLLMServer()  # bound now, serving from `with fake:` on
    settings = process_settings(tmp_path).model_copy(
        update={
            "catalog_file": catalog,
            "classify_model": "t-classify",
            "openai_api_key": SecretStr("sk-test-not-a-real-key"),
            "openai_base_url": fake.openai_base_url,
        }
    )
    policy = run_policy(settings, Catalog.load(catalog), PromptLibrary(ROOT / "data" / "prompts"))
    target = model_chain(policy, "t-classify")[0]
    assert (target.provider, target.model) == ("openai", "gpt-4o-mini")
    wid = f"one-call-{uuid.uuid4().hex[:8]}"
    inp = ModelStepInput(
        workflow_id=wid,
        step="classify",
        prompt=pinned_prompts(policy)["triage.classify"],
        target=target,
        variables={
            "subject": "Charged twice",
            "body": "I was charged twice for my subscription this month.",
            "language_hint": "en",
            "customer_tier": "pro",
            "channel": "email",
        },
        max_output_tokens=200,
    )
    address = env.client.service_client.config.target_host
    store = Store(settings.store_url)
    store.create_schema()
    with fake:
        fake.script(Reply(GOOD, model="gpt-4o-mini-2024-07-18", input_tokens=300, output_tokens=40))
        penv = worker_env(
            tmp_path,
            settings,
            address,
            AIFLOW_CATALOG_FILE=str(catalog),
            AIFLOW_CLASSIFY_MODEL="t-classify",
            OPENAI_API_KEY="sk-test-not-a-real-key",
            OPENAI_BASE_URL=fake.openai_base_url,
        )
        holding = Proc(
            "holding",
            [sys.executable, "-m", "tests.fakes.holding_worker"],
            penv,
            ROOT,
            tmp_path / "logs",
        )
        second = None
        try:
            await holding.wait_event("worker.started", timeout=60)
            queue = f"wf-{uuid.uuid4().hex[:8]}"
            async with Worker(
                env.client,
                task_queue=queue,
                workflows=[OneModelCall],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ):
                handle = await env.client.start_workflow(
                    OneModelCall.run, inp, id=wid, task_queue=queue
                )
                held = await holding.wait_event("model_call.held", timeout=30)
                assert (held["workflow_id"], held["attempt"]) == (wid, 1)
                # The answer is committed before the activity function returned.
                assert store.get_response(wid, "classify", _only_hash(store, wid)) is not None
                holding.popen.send_signal(signal.SIGKILL)
                assert await holding.wait_exit(10) == -signal.SIGKILL
                second = Proc(
                    "second",
                    [sys.executable, "worker.py", "--queues", "models"],
                    penv,
                    ROOT,
                    tmp_path / "logs",
                )
                result = await handle.result()
        finally:
            holding.kill()
            if second is not None:
                await stop_worker(second)
            store.close()
        assert len(fake.requests) == 1  # paid once, by the killed worker
    assert result.output == {
        "category": "billing",
        "priority": "high",
        "confidence": 0.93,
        "language": "en",
        "reasoning": "double charge",
    }
    call = result.call
    assert (call.attempt, call.reused, call.model, call.provider) == (
        2,
        True,
        "gpt-4o-mini-2024-07-18",
        "openai",
    )
    assert (call.usage.input_tokens, call.usage.output_tokens) == (300, 40)


def _only_hash(store: Store, wid: str) -> str:
    with Session(store.engine) as session:
        [row] = session.exec(select(ResponseRow).where(ResponseRow.workflow_id == wid)).all()
        return row.request_hash
