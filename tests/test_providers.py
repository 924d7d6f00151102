"""The real `openai` and `anthropic` clients against local servers speaking their wire formats:
our own scripted fake (tests/fakes/llm_server.py) and, as an independent peer, llmock."""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter

from activities.errors import (
    NON_RETRYABLE_TYPES,
    AuthenticationFailed,
    BadRequest,
    ContentFiltered,
    ContextLengthExceeded,
    MalformedOutput,
    ModelError,
    ModelNotFound,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    http_status_error,
    retry_after_seconds,
    to_application_error,
)
from activities.providers.anthropic_provider import AnthropicProvider, build_anthropic_client
from activities.providers.base import Message, ModelRequest, ModelResponse
from activities.providers.openai_provider import OpenAIProvider, build_openai_client
from contracts import Usage
from tests.fakes.llm_server import (
    CHAT_PATH,
    MESSAGES_PATH,
    RESPONSES_PATH,
    Behaviour,
    Fail,
    FakeLLMServer,
    Filtered,
    NoChoices,
    Raw,
    Refused,
    Reply,
    context_length_fail,
)

TIMEOUT_S = 0.5
OPENAI_KEY = "sk-test-0penai-KEY-do-not-leak"
ANTHROPIC_KEY = "sk-ant-test-KEY-do-not-leak"
SYSTEM = "You are a support triage assistant. Answer in JSON."
USER = "Ticket T-1: my card 4111 was charged twice, please refund"
REPLY = '{"category": "billing", "priority": "high"}'
SERVED = "served-model-2025-01-01"


def make_request(*, json_output: bool = True) -> ModelRequest:
    return ModelRequest(
        task="triage.classify",
        model="requested-model",
        prompt_id="classify",
        prompt_version="v1",
        messages=[Message(role="system", content=SYSTEM), Message(role="user", content=USER)],
        max_output_tokens=64,
        json_output=json_output,
    )


@dataclass(frozen=True)
class Wire:
    api: str  # chat | responses | messages
    path: str
    key: str

    def provider(self, base: str, *, name: str | None = None) -> tuple[Any, Any]:
        """(provider, client) pointed at `base` (the server root)."""
        kw = {"name": name} if name else {}
        if self.api == "messages":
            client = build_anthropic_client(self.key, base, TIMEOUT_S)
            return AnthropicProvider(client, **kw), client
        client = build_openai_client(self.key, f"{base}/v1", TIMEOUT_S)
        return OpenAIProvider(client, api=self.api, **kw), client  # type: ignore[arg-type]


CHAT = Wire("chat", CHAT_PATH, OPENAI_KEY)
RESPONSES = Wire("responses", RESPONSES_PATH, OPENAI_KEY)
MESSAGES = Wire("messages", MESSAGES_PATH, ANTHROPIC_KEY)
WIRES = [pytest.param(w, id=w.api) for w in (CHAT, RESPONSES, MESSAGES)]


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest_asyncio.fixture(params=WIRES)
async def wired(request: pytest.FixtureRequest, fake: FakeLLMServer) -> AsyncIterator[Any]:
    """(wire, provider) for each API, against the fake; the client is closed afterwards."""
    wire: Wire = request.param
    provider, client = wire.provider(fake.url)
    yield wire, provider
    await client.close()


def expected_body(wire: Wire, *, json_output: bool = True) -> dict[str, Any]:
    both = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    if wire.api == "chat":
        body: dict[str, Any] = {"model": "requested-model", "messages": both, "max_tokens": 64}
        if json_output:
            body["response_format"] = {"type": "json_object"}
    elif wire.api == "responses":
        body = {"model": "requested-model", "input": both, "max_output_tokens": 64}
        body["store"] = False
        if json_output:
            body["text"] = {"format": {"type": "json_object"}}
    else:
        body = {
            "model": "requested-model",
            "system": SYSTEM,
            "messages": [{"role": "user", "content": USER}],
            "max_tokens": 64,
        }
    return body


# --- success ---------------------------------------------------------------------------


async def test_success_sends_the_request_and_parses_the_answer(wired, fake) -> None:
    wire, provider = wired
    fake.script(Reply(REPLY, model=SERVED, input_tokens=21, output_tokens=9))

    response = await provider.complete(make_request())

    assert isinstance(response, ModelResponse)
    assert response.text == REPLY
    assert response.usage == Usage(input_tokens=21, output_tokens=9, estimated=False)
    assert response.model == SERVED
    assert response.provider == ("anthropic" if wire.api == "messages" else "openai")
    assert 0.0 < response.latency_ms < 5000.0
    [sent] = fake.requests
    assert sent.path == wire.path
    assert sent.body == expected_body(wire)
    # anthropic 2.x sends its API key as a bearer token too
    assert sent.headers["authorization"] == f"Bearer {wire.key}"
    assert sent.headers["x-stainless-retry-count"] == "0"


@pytest.mark.parametrize("wire", [pytest.param(w, id=w.api) for w in (CHAT, RESPONSES)])
async def test_openai_sends_no_json_mode_unless_asked(wire: Wire, fake) -> None:
    provider, client = wire.provider(fake.url, name="local")
    fake.script(Reply("plain text", usage=False))

    response = await provider.complete(make_request(json_output=False))
    await client.close()

    [sent] = fake.requests
    assert sent.body == expected_body(wire, json_output=False)
    assert response.provider == "local"
    # no usage reported (some local servers): about four characters a token
    chars_in = len(SYSTEM) + len(USER)
    assert response.usage == Usage(input_tokens=-(-chars_in // 4), output_tokens=3, estimated=True)


# --- failures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    behaviour: Callable[[str], Behaviour]  # path -> behaviour
    error: type[ModelError]
    status: int | None
    permanent: bool = False
    retry_after: float | None = None


def _key_echo(path: str) -> Fail:
    return Fail(401, f"Incorrect API key provided: {OPENAI_KEY} {ANTHROPIC_KEY}")


def _prompt_echo(path: str) -> Fail:
    return Fail(422, f"Input should be a valid dictionary, input: {USER}")


CASES = {
    "429-retry-after-ms": Case(
        lambda p: Fail(429, headers={"retry-after-ms": "250", "retry-after": "1"}),
        RateLimited,
        429,
        retry_after=0.25,
    ),
    "429-retry-after-s": Case(
        lambda p: Fail(429, headers={"retry-after": "3"}), RateLimited, 429, retry_after=3.0
    ),
    "429-no-hint": Case(lambda p: Fail(429), RateLimited, 429),
    "408": Case(lambda p: Fail(408), ProviderUnavailable, 408),
    "409": Case(lambda p: Fail(409), ProviderUnavailable, 409),
    "500": Case(lambda p: Fail(500), ProviderUnavailable, 500),
    "529-overloaded": Case(lambda p: Fail(529, "Overloaded"), ProviderUnavailable, 529),
    "200-not-json": Case(
        lambda p: Raw(200, b"<html>502 Bad Gateway</html>"), ProviderUnavailable, 200
    ),
    "200-html": Case(
        lambda p: Raw(200, b"<html>oops</html>", content_type="text/html"), ProviderUnavailable, 200
    ),
    "200-no-choices": Case(lambda p: NoChoices(), MalformedOutput, None),
    "401-echoing-key": Case(_key_echo, AuthenticationFailed, 401, True),
    "403": Case(lambda p: Fail(403), AuthenticationFailed, 403, True),
    "400": Case(lambda p: Fail(400, "Invalid value for 'temperature'"), BadRequest, 400, True),
    "404": Case(lambda p: Fail(404, "The model does not exist"), ModelNotFound, 404, True),
    "422-echoing-prompt": Case(_prompt_echo, BadRequest, 422, True),
    "400-context-length": Case(context_length_fail, ContextLengthExceeded, 400, True),
    "content-filter": Case(lambda p: Filtered(), ContentFiltered, None, True),
    "refusal": Case(lambda p: Refused(), ContentFiltered, None, True),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=k) for k, c in CASES.items()])
async def test_failure_is_classified_once_without_retry(wired, fake, case: Case) -> None:
    wire, provider = wired
    fake.script(case.behaviour(wire.path))

    with pytest.raises(ModelError) as caught:
        await provider.complete(make_request())

    err = caught.value
    assert type(err) is case.error
    assert err.status == case.status
    assert getattr(err, "retry_after", None) == case.retry_after
    assert len(fake.requests) == 1  # max_retries=0: the SDK did not retry
    app = to_application_error(err)
    assert app.type == case.error.__name__
    assert app.non_retryable is case.permanent
    expected_delay = None if case.retry_after is None else timedelta(seconds=case.retry_after)
    assert app.next_retry_delay == expected_delay
    assert app.details == ({"status": case.status},)
    # The SDK's exception, whose text may quote the key or the prompt, must ride along neither
    # into a logged traceback nor into what Temporal stores (models.py raises `... from err`).
    logged = "".join(traceback.format_exception(err))
    app.__cause__ = err
    failure = Failure()
    DataConverter.default.failure_converter.to_failure(
        app, DataConverter.default.payload_converter, failure
    )
    assert not failure.cause.HasField("cause")  # ApplicationError -> ModelError, no further
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, USER, "4111"):
        assert secret not in str(err)
        assert secret not in str(failure)
        assert secret not in logged


async def test_error_message_names_status_type_code_and_request(fake) -> None:
    provider, client = CHAT.provider(fake.url)
    fake.script(context_length_fail(CHAT_PATH))
    with pytest.raises(ContextLengthExceeded) as caught:
        await provider.complete(make_request())
    await client.close()
    assert str(caught.value) == (
        "openai: HTTP 400 invalid_request_error context_length_exceeded "
        "(request req_fake123): context length exceeded"
    )


async def test_slow_response_raises_provider_timeout(wired, fake) -> None:
    wire, provider = wired
    fake.script(Reply(REPLY, delay_s=3.0))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout) as caught:
        await provider.complete(make_request())

    elapsed = time.monotonic() - started
    assert TIMEOUT_S * 0.9 <= elapsed <= TIMEOUT_S + 0.5
    assert caught.value.status is None
    assert to_application_error(caught.value).non_retryable is False
    assert len(fake.requests) == 1


async def test_refused_connection_is_provider_unavailable() -> None:
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for wire in (CHAT, RESPONSES, MESSAGES):
        provider, client = wire.provider(f"http://127.0.0.1:{port}")
        with pytest.raises(ProviderUnavailable, match="connection failed"):
            await provider.complete(make_request())
        await client.close()


async def test_anthropic_rejects_unknown_roles_before_sending(fake) -> None:
    provider, client = MESSAGES.provider(fake.url)
    request = make_request()
    request.messages.append(Message(role="tool", content="x"))
    with pytest.raises(BadRequest, match="roles must be"):
        await provider.complete(request)
    await client.close()
    assert fake.requests == []


# --- factories and the classifier ------------------------------------------------------


def test_factories_disable_sdk_retries_and_need_a_key_for_the_vendor() -> None:
    oa = build_openai_client("k", "http://127.0.0.1:1/v1", 0.5)
    an = build_anthropic_client("k", "http://127.0.0.1:1", 0.5)
    assert (oa.max_retries, oa.timeout, an.max_retries, an.timeout) == (0, 0.5, 0, 0.5)
    assert build_openai_client(None, "http://127.0.0.1:1/v1", 1).api_key == "unused"
    with pytest.raises(ValueError):
        build_openai_client(None, None, 1)
    with pytest.raises(ValueError):
        build_anthropic_client("", None, 1)


def test_retry_after_prefers_ms_then_seconds_then_http_date() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0
    assert retry_after_seconds({"retry-after": "1.5"}) == 1.5
    date = "Wed, 21 Oct 2015 07:28:30 GMT"  # 1445412510
    assert retry_after_seconds({"retry-after": date}, now=1445412500.0) == 10.0
    assert retry_after_seconds({"retry-after": date}, now=1445412600.0) == 0.0
    assert retry_after_seconds({"retry-after": "-3"}) is None
    assert retry_after_seconds({"retry-after": "tomorrow"}) is None
    assert retry_after_seconds({}) is None


def test_classifier_keeps_free_text_out_of_messages() -> None:
    err = http_status_error(
        "openai", 400, {}, error_type="invalid request: " + USER, code="bad", request_id="r 1"
    )
    assert (type(err), str(err)) == (BadRequest, "openai: HTTP 400 bad")
    filtered = http_status_error("openai", 400, {}, code="content_filter")
    assert type(filtered) is ContentFiltered
    llama = http_status_error("local", 400, {}, error_type="exceed_context_size_error")
    assert type(llama) is ContextLengthExceeded
    assert {"ContextLengthExceeded", "ContentFiltered"} <= set(NON_RETRYABLE_TYPES)


# --- an independent peer: llmock -------------------------------------------------------

PEERS = [
    pytest.param(("chat", "openai"), id="chat"),
    pytest.param(("responses", "openai"), id="responses"),
    pytest.param(("messages", "anthropic"), id="messages"),
]


def _peer(llmock: Any, api: str, vendor: str) -> tuple[Any, Any]:
    base = llmock.base_url(vendor)
    if vendor == "anthropic":
        client = build_anthropic_client(ANTHROPIC_KEY, base, TIMEOUT_S)
        return AnthropicProvider(client), client
    client = build_openai_client(OPENAI_KEY, base, TIMEOUT_S)
    return OpenAIProvider(client, api=api), client  # type: ignore[arg-type]


@pytest.mark.parametrize("peer", PEERS)
async def test_llmock_success(llmock, peer) -> None:
    provider, client = _peer(llmock, *peer)
    llmock.reply(REPLY)
    response = await provider.complete(make_request())
    await client.close()
    assert (response.text, response.model) == (REPLY, "requested-model")
    assert response.usage.estimated is False and response.usage.output_tokens > 0
    [sent] = llmock.requests
    max_key = "max_output_tokens" if peer[0] == "responses" else "max_tokens"
    assert (sent.status, sent.sdk_retry_count, sent.body[max_key]) == (200, 0, 64)


@pytest.mark.parametrize("peer", PEERS)
async def test_llmock_rate_limit_with_retry_after(llmock, peer) -> None:
    provider, client = _peer(llmock, *peer)
    llmock.rate_limit(retry_after=0.25)  # llmock sends retry-after: 1 and retry-after-ms: 250
    with pytest.raises(RateLimited) as caught:
        await provider.complete(make_request())
    await client.close()
    assert (caught.value.status, caught.value.retry_after) == (429, 0.25)
    assert to_application_error(caught.value).next_retry_delay == timedelta(seconds=0.25)
    assert [r.status for r in llmock.requests] == [429]


@pytest.mark.parametrize("peer", PEERS)
async def test_llmock_overload_and_context_overflow(llmock, peer) -> None:
    provider, client = _peer(llmock, *peer)
    llmock.fail(529).context_overflow()
    with pytest.raises(ProviderUnavailable) as overloaded:
        await provider.complete(make_request())
    with pytest.raises(ContextLengthExceeded):
        await provider.complete(make_request())
    await client.close()
    assert overloaded.value.status == 529
    assert [r.status for r in llmock.requests] == [529, 400]
