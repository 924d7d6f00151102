"""The gateway's batched model call: each call of a batch behaves as `model_call` (its own
response-log entry, validation, cost, error classification); a retryable failure fails
the batch and the retry pays only for the calls that had no recorded answer."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.catalog import Catalog
from activities.errors import ProviderUnavailable, RateLimited
from activities.gateway import MAX_BATCH_CALLS, ModelGateway
from activities.prompts import PromptLibrary
from activities.providers.base import ModelRequest, ModelResponse
from activities.store import Store
from contracts import ModelStepInput, Usage
from contracts.batch import ModelBatchInput, ModelCallError
from settings import ROOT
from tests.test_gateway import GOOD, step_input

ONE_CALL_COST = (100 * 0.15 + 20 * 0.6) / 1e6  # offline-knn-v1's simulated price


class ByKey:
    """Answers each call from its own script (keyed by workflow id), whatever the order
    in which the batch's concurrent calls reach it; records every request."""

    name = "offline"

    def __init__(self, **scripts: list[str | Exception]) -> None:
        self.scripts = scripts
        self.requests: list[ModelRequest] = []

    def asked(self, wid: str) -> int:
        return sum(r.request_key.startswith(f"{wid}:") for r in self.requests)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        answer = self.scripts[request.request_key.split(":")[0]].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return ModelResponse(
            text=answer,
            usage=Usage(input_tokens=100, output_tokens=20),
            model=request.model,
            provider="offline",
            latency_ms=5.0,
        )


@pytest.fixture
def gateway_for(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_schema()
    breakers = CircuitBreakers(store.engine, BreakerPolicy())
    breakers.create_schema()
    prompts = PromptLibrary(ROOT / "data" / "prompts")
    catalog = Catalog.load(ROOT / "data" / "models.toml")
    yield lambda provider: ModelGateway({"offline": provider}, catalog, prompts, store, breakers)
    store.close()


def call(wid: str, **target) -> ModelStepInput:
    inp = step_input()
    inp.workflow_id = wid
    if target:
        inp.target = inp.target.model_copy(update=target)
    return inp


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    return env


async def test_each_call_has_its_own_result_cost_and_non_retryable_error(gateway_for):
    provider = ByKey(a=[GOOD], b=["not json at all", "still not json"], c=[])
    batch = ModelBatchInput(calls=[call("a"), call("b"), call("c", model="not-in-catalogue")])
    out = await ActivityEnvironment().run(gateway_for(provider).model_call_batch, batch)
    a, b, c = out.items
    assert (a.error, a.result.output["category"], a.result.call.cost_usd) == (
        None,
        "billing",
        pytest.approx(ONE_CALL_COST),
    )
    assert (b.result, b.error) == (
        None,
        ModelCallError(
            type="InvalidStructuredOutput",
            message="Classification output invalid after 1 re-ask(s): answer: Invalid JSON: "
            "expected value at line 1 column 1",
            details=[{"partial": "still not json"}],
        ),
    )
    assert (c.result, c.error.type) == (None, "UnknownModel")
    assert [provider.asked(w) for w in "abc"] == [1, 2, 0]


async def test_a_retryable_failure_fails_the_batch_and_the_retry_pays_only_for_it(gateway_for):
    provider = ByKey(a=[GOOD], b=[ProviderUnavailable("down", status=503), GOOD], c=[GOOD])
    gateway = gateway_for(provider)
    batch = ModelBatchInput(calls=[call("a"), call("b"), call("c")])
    with pytest.raises(ApplicationError) as caught:
        await attempt(1).run(gateway.model_call_batch, batch)
    err = caught.value
    assert (err.type, err.non_retryable, err.message) == (
        "ProviderUnavailable",
        False,
        "1 of 3 calls failed and are retried: down",
    )
    out = await attempt(2).run(gateway.model_call_batch, batch)
    assert [(i.result.call.reused, i.result.call.attempt) for i in out.items] == [
        (True, 2),
        (False, 2),
        (True, 2),
    ]
    assert [provider.asked(w) for w in "abc"] == [1, 2, 1]  # a and c were paid once


async def test_the_batch_waits_for_the_longest_retry_after(gateway_for):
    provider = ByKey(
        a=[RateLimited("slow down", retry_after=3.0)],
        b=[RateLimited("slow down", retry_after=7.5)],
        c=[GOOD],
    )
    batch = ModelBatchInput(calls=[call("a"), call("b"), call("c")])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(gateway_for(provider).model_call_batch, batch)
    assert (caught.value.type, caught.value.next_retry_delay) == (
        "RateLimited",
        timedelta(seconds=7.5),
    )


async def test_a_batch_over_the_limit_is_refused_before_any_call(gateway_for):
    provider = ByKey()
    batch = ModelBatchInput(calls=[call(f"w{n}") for n in range(MAX_BATCH_CALLS + 1)])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(gateway_for(provider).model_call_batch, batch)
    assert (caught.value.type, caught.value.non_retryable) == ("BatchTooLarge", True)
    assert provider.requests == []
