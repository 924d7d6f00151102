"""The model layer end to end on a real Temporal server: the real `openai` client against a
local wire-format fake, fallback down the catalogue chain, Retry-After honoured through
Temporal, invalid output to review with the partial answer, the run budget, the breaker."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from activities.breaker import BreakerPolicy, CircuitBreakers, breaker_key
from activities.store import Store
from contracts import DegradationPolicy, Outcome, RunState
from settings import ROOT
from starter.submit import wait_settled
from tests.conftest import running_worker
from tests.fakes.llm_server import CHAT_PATH, Fail, FakeLLMServer, Reply
from tests.test_triage_workflow import start, ticket

OFFLINE_TARGETS = (ROOT / "data" / "models.toml").read_text().split("# Offline models cost")[1]
CATALOG = (
    """
version = "test"
[aliases]
t-classify = ["gpt-4o-mini", "offline-knn-v1"]
offline-classify = ["offline-knn-v1"]
offline-draft = ["offline-template-v1"]

[targets.gpt-4o-mini]
provider = "openai"
model = "gpt-4o-mini"
context_window = 128_000
max_output_tokens = 16_384

# Offline models cost"""
    + OFFLINE_TARGETS
)

GOOD = (
    '{"category": "billing", "priority": "high", "confidence": 0.93, "language": "en", '
    '"reasoning": "double charge"}'
)


@pytest.fixture
def fake():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def openai_settings(settings, fake, tmp_path: Path):
    catalog = tmp_path / "models.toml"
    catalog.write_text(CATALOG)
    return settings.model_copy(
        update={
            "catalog_file": catalog,
            "classify_model": "t-classify",
            "openai_api_key": SecretStr("sk-test-not-a-real-key"),
            "openai_base_url": fake.openai_base_url,
            "provider_timeout_seconds": 5.0,
        }
    )


def model_steps(result) -> list[tuple[str, str, str | None]]:
    return [(s.step, s.outcome, s.model) for s in result.steps if s.kind == "model"]


async def test_openai_answers_through_the_gateway(env, openai_settings, fake):
    fake.script(Reply(GOOD, model="gpt-4o-mini-2024-07-18", input_tokens=300, output_tokens=40))
    async with running_worker(env.client, openai_settings):
        result = await (await start(env.client, openai_settings, ticket())).result()
    assert result.outcome == Outcome.RESOLVED
    assert (result.category, result.confidence) == ("billing", 0.93)
    classify = result.steps[2]
    assert (classify.provider, classify.model, classify.input_tokens, classify.output_tokens) == (
        "openai",
        "gpt-4o-mini-2024-07-18",
        300,
        40,
    )
    assert classify.tokens_estimated is False
    assert classify.cost_usd == pytest.approx((300 * 0.15 + 40 * 0.60) / 1e6, abs=1e-12)
    assert classify.details["price_version"].startswith("genai-prices-")
    [request] = fake.requests
    assert request.path == CHAT_PATH
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.headers["authorization"] == "Bearer sk-test-not-a-real-key"


async def test_retry_after_is_honoured_by_temporal(env, openai_settings, fake):
    fake.script(Fail(429, headers={"retry-after": "2"}), Reply(GOOD))
    async with running_worker(env.client, openai_settings):
        result = await (await start(env.client, openai_settings, ticket())).result()
    first, second = fake.requests
    assert 2.0 <= second.at - first.at < 3.5  # the policy's own interval would be 1 s
    classify = result.steps[2]
    assert (classify.outcome, classify.provider, classify.attempt) == ("ok", "openai", 2)


async def test_non_retryable_error_falls_back_down_the_chain(env, openai_settings, fake):
    fake.script(Fail(401))
    async with running_worker(env.client, openai_settings):
        result = await (await start(env.client, openai_settings, ticket())).result()
    assert result.outcome == Outcome.RESOLVED
    assert model_steps(result)[:2] == [
        ("classify", "error", "gpt-4o-mini"),
        ("classify", "ok", "offline-knn-v1"),
    ]
    assert result.steps[2].reasoning.startswith("AuthenticationFailed: ")
    assert result.steps[3].details["fallbacks"] == 1
    assert len(fake.requests) == 1  # a 401 is never retried


async def test_output_that_never_validates_goes_to_review_with_the_partial(env, settings):
    broken = settings.model_copy(
        update={"offline_fault_rate": 1.0, "offline_fault_kinds": ["malformed"]}
    )
    async with running_worker(env.client, broken):
        handle = await start(env.client, broken, ticket())
        state = await wait_settled(handle, poll=0.1)
    assert isinstance(state, RunState)
    assert state.review_reasons == ["invalid_output:classify"]
    assert state.partial_output.startswith('{"category": ')
    classify = [s for s in state.steps if s.step == "classify"]
    assert [(s.outcome, s.reasoning.split(":")[0]) for s in classify] == [
        ("error", "InvalidStructuredOutput")
    ]


async def test_budget_too_small_for_any_model_goes_to_review(env, settings):
    poor = settings.model_copy(update={"run_budget_usd": 1e-7})
    async with running_worker(env.client, poor):
        handle = await start(env.client, poor, ticket())
        state = await wait_settled(handle, poll=0.1)
    assert state.review_reasons == ["budget:classify"]
    assert [s.outcome for s in state.steps if s.step == "classify"] == ["skipped:budget"]
    assert state.cost_usd == 0.0


async def test_open_breaker_costs_no_attempt_and_a_probe_closes_it(env, settings):
    quick = settings.model_copy(
        update={
            "breaker_open_seconds": 1.0,
            "degradation": {"default": DegradationPolicy(first_wait_seconds=1.0)},
        }
    )
    store = Store(quick.store_url)
    store.create_schema()
    breakers = CircuitBreakers(store.engine, BreakerPolicy(open_seconds=1.0))
    breakers.create_schema()
    key = breaker_key("offline", "offline-knn-v1")
    for _ in range(5):
        breakers.record_failure(key)
    assert breakers.acquire(key).allowed is False
    async with running_worker(env.client, quick):
        result = await (await start(env.client, quick, ticket())).result()
    assert [s.outcome for s in result.steps if s.step == "classify"] == [
        "skipped:breaker_open",
        "ok",
        "waited:recovered",
    ]
    assert result.steps[4].details == {
        "reason": "model_unavailable",
        "rounds": 2,
        "models": ["offline/offline-knn-v1"],
        "latency_budget_ms": 3000.0,
        "over_budget": False,
    }
    assert [b.state for b in breakers.snapshot() if b.key == key] == ["closed"]
    store.close()


async def test_past_the_degrade_threshold_qa_regeneration_is_skipped(env, settings):
    frugal = settings.model_copy(update={"run_budget_usd": 0.0006, "budget_degrade_ratio": 0.25})
    card = ticket(body="Why was my card 4111 1111 1111 1111 charged twice on invoice INV-77?")
    async with running_worker(env.client, frugal):
        handle = await start(env.client, frugal, card)
        state = await wait_settled(handle, poll=0.1)
    assert state.review_reasons == ["qa_failed"]
    assert [(s.step, s.outcome) for s in state.steps[2:]] == [
        ("classify", "ok"),
        ("draft", "ok"),
        ("qa", "fail"),
        ("qa", "regeneration_skipped:budget"),
        ("decide", "review"),
    ]
    assert state.cost_usd <= 0.0006


async def test_step_cap_and_context_window_skip_models_before_any_call(env, settings, tmp_path):
    catalog = tmp_path / "models.toml"
    catalog.write_text(
        CATALOG.replace(
            't-classify = ["gpt-4o-mini", "offline-knn-v1"]',
            't-classify = ["offline-tiny", "offline-knn-v1"]',
        )
        + """
[targets.offline-tiny]
provider = "offline"
model = "offline-knn-tiny"
context_window = 500
max_output_tokens = 200
price = { input_per_mtok = 0.15, output_per_mtok = 0.60, simulated = true }
"""
    )
    tight = settings.model_copy(
        update={
            "catalog_file": catalog,
            "classify_model": "t-classify",
            "step_budgets_usd": {"draft": 1e-9},
        }
    )
    async with running_worker(env.client, tight):
        handle = await start(env.client, tight, ticket())
        state = await wait_settled(handle, poll=0.1)
    assert [(s.step, s.outcome, s.model) for s in state.steps if s.kind == "model"] == [
        ("classify", "skipped:context_window", "offline-knn-tiny"),
        ("classify", "ok", "offline-knn-v1"),
        ("draft", "skipped:step_budget", "offline-template-v1"),
    ]
    assert state.review_reasons == ["budget:draft"]


async def test_input_too_long_for_every_model_is_truncated_to_fit(env, settings, tmp_path):
    catalog = tmp_path / "models.toml"
    catalog.write_text(
        CATALOG.replace(
            't-classify = ["gpt-4o-mini", "offline-knn-v1"]',
            't-classify = ["offline-small"]',
        )
        + """
[targets.offline-small]
provider = "offline"
model = "offline-knn-small"
context_window = 1000
max_output_tokens = 200
price = { input_per_mtok = 0.15, output_per_mtok = 0.60, simulated = true }
"""
    )
    small = settings.model_copy(update={"catalog_file": catalog, "classify_model": "t-classify"})
    # Long and varied: stuffed repetition would be flagged by the content guard (review).
    long_body = " ".join(
        [
            "I was charged twice for my subscription, invoice INV-2291, on 3 March.",
            "My bank statement shows two identical payments of 49.00 EUR from your company.",
            "I only have one account and one plan, so the second payment must be a mistake.",
            "Last month the same thing happened and it took three weeks to get the refund.",
            "Your billing page still lists the old card that expired in January as well.",
            "Could you please reverse the duplicate charge and confirm it by e-mail?",
            "I also need a corrected invoice with our company name, Kessler Bau GmbH.",
            "Our accountant asks for the VAT number on every invoice we receive from you.",
            "If the refund takes longer than a week, please tell me what the delay is.",
            "I tried the chat yesterday evening but nobody answered before you closed.",
            "The confirmation e-mail for the renewal arrived twice, a minute apart.",
            "Please check whether the renewal job ran two times for my subscription.",
            "I would rather not dispute this with my bank, so I hope you can fix it.",
            "Attached you will find screenshots of both payments and of the invoice.",
            "Thank you for looking into this quickly, it is a lot of money for us.",
            "Best regards from Munich, where the invoices are checked every Friday.",
            "P.S. The invoice PDF link in the reminder e-mail returns an error page.",
            "P.P.S. My colleague Jonas sees the correct single charge on his account.",
            "So it seems only my account is affected by this double billing problem.",
            "Please keep me updated on the refund and the corrected invoice, thanks.",
        ]
    )
    async with running_worker(env.client, small):
        result = await (await start(env.client, small, ticket(body=long_body))).result()
    classify = [s for s in result.steps if s.step == "classify"]
    assert [(s.kind.value, s.outcome) for s in classify] == [("code", "truncated"), ("model", "ok")]
    assert classify[0].details["variable"] == "body"
    assert classify[0].details["from_chars"] == len(long_body.strip())
    assert result.category == "billing"


async def test_a_retried_activity_does_not_pay_again_for_an_answer_it_already_got(
    env, openai_settings, fake
):
    """Attempt 1 gets an answer (recorded), then dies on the re-ask (500). Attempt 2 reuses
    the recorded answer instead of sending the first request again."""
    fake.script(Reply('{"category": "billing"}'), Fail(500), Reply(GOOD))
    async with running_worker(env.client, openai_settings):
        result = await (await start(env.client, openai_settings, ticket())).result()
    assert [len(r.body["messages"]) for r in fake.requests] == [2, 4, 4]
    classify = result.steps[2]
    assert (classify.outcome, classify.provider, classify.attempt) == ("ok", "openai", 2)
    assert classify.details["reasks"] == 1
    assert (classify.input_tokens, classify.output_tokens) == (42, 18)  # 2 calls paid, not 3
