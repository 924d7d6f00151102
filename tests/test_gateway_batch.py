"""The gateway's batched model call: each call of a batch behaves as `model_call` (its own
response-log entry, validation, cost, error classification); a retryable failure fails
the batch and the retry pays only for the calls that had no recorded answer."""

# ruff: noqa: F811 (tests take the imported `make` fixture as a parameter)
from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import gateway as gateway_module
from activities.errors import ProviderUnavailable, RateLimited
from activities.gateway import MAX_BATCH_CALLS
from activities.providers.base import ModelRequest
from contracts import ModelStepInput
from contracts.batch import ModelBatchInput, ModelCallError

# `make` is test_gateway's gateway fixture, imported so pytest finds it here too
from tests.test_gateway import GOOD, Scripted, make, step_input  # noqa: F401

ONE_CALL_COST = (100 * 0.15 + 20 * 0.6) / 1e6  # offline-knn-v1's simulated price


class ByKey(Scripted):
    """Answers each call from its own script (keyed by workflow id), whatever the order
    in which the batch's concurrent calls reach it; records every request."""

    def __init__(self, **scripts: list[str | Exception]) -> None:
        super().__init__()
        self.scripts = scripts

    def asked(self, wid: str) -> int:
        return sum(r.request_key.startswith(f"{wid}:") for r in self.requests)

    def next_answer(self, request: ModelRequest) -> str | Exception:
        return self.scripts[request.request_key.split(":")[0]].pop(0)


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


async def test_each_call_has_its_own_result_cost_and_non_retryable_error(make):
    provider = ByKey(a=[GOOD], b=["not json at all", "still not json"], c=[])
    batch = ModelBatchInput(calls=[call("a"), call("b"), call("c", model="not-in-catalogue")])
    out = await ActivityEnvironment().run(make(provider).model_call_batch, batch)
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


async def test_a_retryable_failure_fails_the_batch_and_the_retry_pays_only_for_it(make):
    provider = ByKey(a=[GOOD], b=[ProviderUnavailable("down", status=503), GOOD], c=[GOOD])
    gateway = make(provider)
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


async def test_the_batch_waits_for_the_longest_retry_after(make):
    provider = ByKey(
        a=[RateLimited("slow down", retry_after=3.0)],
        b=[RateLimited("slow down", retry_after=7.5)],
        c=[GOOD],
    )
    batch = ModelBatchInput(calls=[call("a"), call("b"), call("c")])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(make(provider).model_call_batch, batch)
    assert (caught.value.type, caught.value.next_retry_delay) == (
        "RateLimited",
        timedelta(seconds=7.5),
    )


async def test_a_batch_over_the_limit_is_refused_before_any_call(make):
    provider = ByKey()
    batch = ModelBatchInput(calls=[call(f"w{n}") for n in range(MAX_BATCH_CALLS + 1)])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(make(provider).model_call_batch, batch)
    assert (caught.value.type, caught.value.non_retryable) == ("BatchTooLarge", True)
    assert provider.requests == []


class Held(ByKey):
    """Holds every call until `release` is set, counting the calls inside at once."""

    def __init__(self, **scripts: list[str | Exception]) -> None:
        super().__init__(**scripts)
        self.inside = self.peak = 0
        self.release = asyncio.Event()

    async def complete(self, request: ModelRequest):
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self.release.wait()
            return await super().complete(request)
        finally:
            self.inside -= 1


async def until_inside(provider: Held, n: int) -> None:
    """Wait (at most 10 s) until n calls are inside the provider; each call first looks
    up the response log, on a thread."""
    async with asyncio.timeout(10):
        while provider.inside < n:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(("limit", "inside"), [(3, 3), (None, 8)])
async def test_calls_in_flight_are_bounded_per_provider_not_per_slot(make, limit, inside):
    names = "abcdefgh"
    provider = Held(**{w: [GOOD] for w in names})
    gateway = make(provider, max_calls_in_flight=limit)
    batch = ModelBatchInput(calls=[call(w) for w in names])
    running = asyncio.create_task(ActivityEnvironment().run(gateway.model_call_batch, batch))
    await until_inside(provider, inside)
    await asyncio.sleep(0.2)  # time for a call past the limit to get in, were it allowed
    assert provider.inside == inside  # the rest wait for a permit, not in the provider
    provider.release.set()
    out = await running
    assert [i.result.output["category"] for i in out.items] == ["billing"] * 8
    assert (provider.peak, provider.inside, len(provider.requests)) == (inside, 0, 8)


def test_a_limit_below_one_is_refused(make):
    with pytest.raises(ValueError, match="max_calls_in_flight must be >= 1, not 0"):
        make(ByKey(), max_calls_in_flight=0)


class UntilHeartbeat(ByKey):
    """Answers only once the activity has heartbeated."""

    def __init__(self, **scripts: list[str | Exception]) -> None:
        super().__init__(**scripts)
        self.heartbeat = asyncio.Event()

    async def complete(self, request: ModelRequest):
        await self.heartbeat.wait()
        return await super().complete(request)


async def test_a_batch_heartbeats_while_its_calls_run_and_wait(make, monkeypatch):
    monkeypatch.setattr(gateway_module, "HEARTBEAT_SECONDS", 0.01)
    provider = UntilHeartbeat(a=[GOOD], b=[GOOD])
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *_: provider.heartbeat.set()
    batch = ModelBatchInput(calls=[call("a"), call("b")])
    async with asyncio.timeout(10):  # no heartbeat: the calls never answer
        out = await env.run(make(provider, max_calls_in_flight=1).model_call_batch, batch)
    assert [i.result.output["category"] for i in out.items] == ["billing", "billing"]
