"""A provider outage or a bad key never fails a ticket: on a real Temporal server, with the
real `openai` and `anthropic` clients against a local server that only fails, every ticket
waits durably, then completes after the recovery or goes to a person; provider requests per
ticket stay bounded, and no call goes out while a breaker is open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowHandle

from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.logs import configure_logging
from activities.store import Store
from contracts import DegradationPolicy, Outcome, RunState, Stage
from starter import parked
from starter.submit import wait_settled
from tests.conftest import running_worker
from tests.fakes.llm_server import Fail, FakeLLMServer, Reply
from tests.test_model_chain import CATALOG, GOOD
from tests.test_triage_workflow import start, ticket
from workflows.triage import TriageWorkflow

ANTHROPIC_CATALOG = CATALOG.replace(
    't-classify = ["gpt-4o-mini", "offline-knn-v1"]', 't-classify = ["claude-haiku-4-5"]'
).replace(
    "[targets.gpt-4o-mini]",
    """[targets.claude-haiku-4-5]
provider = "anthropic"
model = "claude-haiku-4-5"
context_window = 200_000
max_output_tokens = 64_000

[targets.gpt-4o-mini]""",
)
OPENAI_ONLY = CATALOG.replace(
    't-classify = ["gpt-4o-mini", "offline-knn-v1"]', 't-classify = ["gpt-4o-mini"]'
)
# Quick waits: 1 s doubling to 2 s, breakers open for 2 s; a 60 s outage window.
QUICK = DegradationPolicy(first_wait_seconds=1.0, max_wait_seconds=2.0, outage_window_seconds=60)


@pytest.fixture
def down():
    """A provider that fails every request until the test sets another default."""
    with FakeLLMServer(default=Fail(500, "fake outage")) as server:
        yield server


def storm_settings(settings, fake, tmp_path: Path, vendor: str = "openai", **extra):
    catalog = tmp_path / "models.toml"
    catalog.write_text(ANTHROPIC_CATALOG if vendor == "anthropic" else OPENAI_ONLY)
    keys = (
        {"anthropic_api_key": SecretStr("sk-ant-test"), "anthropic_base_url": fake.url}
        if vendor == "anthropic"
        else {
            "openai_api_key": SecretStr("sk-test-not-a-real-key"),
            "openai_base_url": fake.openai_base_url,
        }
    )
    values = {
        "catalog_file": catalog,
        "classify_model": "t-classify",
        "provider_timeout_seconds": 1.0,
        "breaker_open_seconds": 2.0,
        "breaker_config_open_seconds": 2.0,
        "breaker_probe_timeout_seconds": 5.0,
        "degradation": {"default": QUICK},
        **keys,
    }
    return settings.model_copy(update=values | extra)


async def until_stage(handles: list[WorkflowHandle], stage: Stage, limit: float = 60) -> None:
    """Every run reports `stage` in its status query (polled, bounded)."""
    for _ in range(int(limit / 0.2)):
        states = await asyncio.gather(*(h.query(TriageWorkflow.status) for h in handles))
        if all(s.stage == stage for s in states):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not all runs reached {stage}: {[s.stage for s in states]}")


def classify_outcomes(result) -> list[str]:
    return [s.outcome for s in result.steps if s.step == "classify"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("vendor", "storm"),
    [
        pytest.param("openai", Fail(500, "fake outage"), id="openai-500"),
        pytest.param("anthropic", Fail(529, "Overloaded"), id="anthropic-529"),
        pytest.param("openai", Fail(429, headers={"retry-after": "1"}), id="openai-429"),
    ],
)
async def test_an_outage_waits_and_every_ticket_completes_after_recovery(
    env, settings, down, tmp_path, vendor, storm
):
    down.default = storm
    s = storm_settings(settings, down, tmp_path, vendor)
    async with running_worker(env.client, s):
        handles = [await start(env.client, s, ticket()) for _ in range(5)]
        await until_stage(handles, Stage.WAITING_MODEL)
        during = len(down.requests)
        await asyncio.sleep(3)  # the breaker is open: at most its probes go out
        probes = len(down.requests) - during
        down.default = Reply(GOOD)
        results = await asyncio.gather(*(h.result() for h in handles))
    assert [r.outcome for r in results] == [Outcome.RESOLVED] * 5
    for r in results:
        assert classify_outcomes(r)[-2:] == ["ok", "waited:recovered"]
        [waited] = [st for st in r.steps if st.outcome == "waited:recovered"]
        assert waited.details["reason"] == "model_unavailable"
    # 5 failures open the shared breaker; retries in flight then stop (CircuitOpen), and
    # while it is open only one probe per open period (2 s) goes out, fleet-wide.
    assert during <= 10
    assert probes <= 3
    paid = len(down.requests) - during - probes
    assert paid <= 5 + 3  # each ticket's answer, and the probes that met the recovery
    print(
        f"\n{vendor} {storm.status}: {during} requests until all 5 waited, {probes} probes in 3 s"
    )


@pytest.mark.timeout(120)
async def test_an_outage_past_its_window_goes_to_review_with_the_reason(
    env, settings, down, tmp_path, capfd, caplog
):
    # the log lines to stderr as a worker process has them, whatever an earlier test in
    # this process configured (an in-process CLI command replaces the handler)
    configure_logging("INFO", "json")
    # the first round's 5 attempts take ~15 s (backoff 1+2+4+8 s); then it waits to 20 s
    brief = QUICK.model_copy(update={"outage_window_seconds": 20.0})
    s = storm_settings(settings, down, tmp_path, degradation={"default": brief})
    async with running_worker(env.client, s):
        handle = await start(env.client, s, ticket())
        state = await wait_settled(handle, poll=0.2)
        assert isinstance(state, RunState)
        assert state.review_reasons == ["model_unavailable:classify"]
        assert state.review.proposal.category is None
        assert state.steps[-1].outcome == "waited:gave_up:model_unavailable"
        await handle.terminate("test done")
    assert len(down.requests) <= 7  # 5 attempts, then probes only
    logged = capfd.readouterr()
    lines = (logged.out + logged.err).splitlines()
    failed = [line for line in lines if "model.call.failed" in line]
    assert len(failed) == len(down.requests)  # one line per failed attempt
    assert '"error": "ProviderUnavailable"' in failed[0] and '"status": 500' in failed[0]
    # the SDK logs a benign failure at debug level, without the traceback
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


@pytest.mark.timeout(120)
async def test_a_hung_provider_and_a_breaker_opening_mid_retry_make_the_run_wait(
    env, settings, tmp_path
):
    with FakeLLMServer(default=Reply(GOOD, delay_s=30)) as hung:
        s = storm_settings(
            settings, hung, tmp_path, breaker_failure_threshold=2, breaker_open_seconds=8.0
        )
        async with running_worker(env.client, s):
            handle = await start(env.client, s, ticket())
            await until_stage([handle], Stage.WAITING_MODEL)
            state = await handle.query(TriageWorkflow.status)
            hung.default = Reply(GOOD)
            result = await handle.result()
    # attempts 1 and 2 time out after the client's 1 s and open the breaker; attempt 3
    # meets it open (CircuitOpen): the step waits instead of ending the ticket.
    assert state.model_wait.reason == "model_unavailable"
    assert state.steps[-1].reasoning.startswith("CircuitOpen: circuit breaker open")
    assert result.outcome == Outcome.RESOLVED
    assert len([r for r in hung.requests if r.body]) >= 3


@pytest.mark.timeout(120)
async def test_a_bad_key_parks_the_runs_alerts_once_and_they_resume_after_the_fix(
    env, settings, tmp_path
):
    with FakeLLMServer(default=Fail(401, "Incorrect API key provided")) as fake:
        s = storm_settings(settings, fake, tmp_path)
        async with running_worker(env.client, s):
            handles = [await start(env.client, s, ticket()) for _ in range(3)]
            await until_stage(handles, Stage.PARKED)
            listed = await parked.waiting(env.client)
            parked_requests = len(fake.requests)
            fake.default = Reply(GOOD)  # the operator deploys the right key
            results = await asyncio.gather(*(h.result() for h in handles))
        store = Store(s.store_url)
        alerts = [n for n in store.notifications() if n.kind == "model_config_error"]
        store.close()
    assert parked_requests <= 3  # one 401 each at most: the first trips the config breaker
    assert [r.outcome for r in results] == [Outcome.RESOLVED] * 3
    assert all(classify_outcomes(r)[-1] == "waited:recovered" for r in results)
    assert sorted(st.ticket_id for st in listed if st.workflow_id in {h.id for h in handles}) == (
        sorted(r.ticket_id for r in results)
    )
    assert len(alerts) == 1
    assert alerts[0].message.startswith(
        "openai/gpt-4o-mini: AuthenticationFailed (openai: HTTP 401"
    )
    assert "sk-test" not in alerts[0].message


@pytest.mark.timeout(120)
async def test_an_operator_releases_a_parked_run_to_review(env, settings, tmp_path, capsys):
    with FakeLLMServer(default=Fail(404, "The model `gpt-4o-mini` does not exist")) as fake:
        s = storm_settings(settings, fake, tmp_path)
        async with running_worker(env.client, s):
            handle = await start(env.client, s, ticket())
            await until_stage([handle], Stage.PARKED)
            state = await handle.query(TriageWorkflow.status)
            code = await parked.amain(["release", state.ticket_id], client=env.client)
            settled = await wait_settled(handle, poll=0.2)
            again = await parked.amain(["release", state.ticket_id], client=env.client)
            await handle.terminate("test done")
    out = [line for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert state.model_wait.reason == "model_config"
    assert state.model_wait.models == ["openai/gpt-4o-mini"]
    assert code == 0 and again == 1
    assert out == [
        f"{state.ticket_id}\treleased to review",
        f"{state.ticket_id}\tnot waiting for models (stage review)",
    ]
    assert isinstance(settled, RunState)
    assert settled.review_reasons == ["model_config:classify"]
    assert settled.steps[-1].outcome == "waited:gave_up:model_config"


def test_config_breaker_trips_once_and_refuses_with_its_reason(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    breakers = CircuitBreakers(store.engine, BreakerPolicy(config_open_seconds=300))
    breakers.create_schema()
    assert breakers.trip("config:openai/m") is True
    assert breakers.trip("config:openai/m") is False  # already open: no second alert
    refused = breakers.acquire("openai/m")
    assert (refused.allowed, refused.state, refused.reason) == (False, "open", "config")
    opened = breakers.snapshot()[0]
    assert (refused.retry_at - opened.opened_at).total_seconds() == 300
    assert breakers.acquire("openai/other").allowed is True
    store.close()


@pytest.mark.timeout(180)
async def test_a_day_long_outage_costs_a_bounded_history(ts_env, settings, down, tmp_path):
    """Time skipping: a whole day of outage, with the defaults' waits (15 s doubling to
    10 min) and a breaker that stays open, then review and its SLAs."""
    day = 24 * 3600.0
    s = storm_settings(
        settings,
        down,
        tmp_path,
        degradation={"default": DegradationPolicy(outage_window_seconds=day)},
        breaker_open_seconds=3600.0,  # wall clock: open for the whole (skipped) day
        review_sla_seconds=3600.0,
        search_attributes="off",
    )
    async with running_worker(ts_env.client, s):
        handle = await start(ts_env.client, s, ticket())
        result = await handle.result()
    events = [e async for e in handle.fetch_history_events()]
    [waited] = [st for st in result.steps if st.outcome.startswith("waited:")]
    rounds = waited.details["rounds"]
    print(
        f"\nday-long outage: {len(events)} history events, {rounds} rounds, "
        f"{len(down.requests)} provider requests"
    )
    assert result.outcome == Outcome.ESCALATED  # review, its SLA and escalation SLA expired
    assert result.reasons == ["model_unavailable:classify", "sla_expired"]
    assert waited.outcome == "waited:gave_up:model_unavailable"
    assert round((waited.ended_at - waited.started_at).total_seconds()) == day
    # log2(600/15) ≈ 5.3 doubling rounds, then a day at ≥ 540 s (600 s less the jitter)
    assert rounds <= 6 + day / 540 + 1
    assert len(events) <= 8 * rounds + 100  # a timer and a breaker check a round
    assert len(down.requests) == 5  # the first round's attempts; then the breaker held
