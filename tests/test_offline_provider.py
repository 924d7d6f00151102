"""The offline provider: classification, drafts, usage, latency and injected faults."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from pathlib import Path

import pytest

from activities.errors import (
    BadRequest,
    ModelError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from activities.providers.base import CLASSIFY_TASK, DRAFT_TASK, Message, ModelRequest
from activities.providers.offline import OfflineConfig, OfflineProvider

DATA = Path(__file__).resolve().parents[1] / "data" / "offline"
GREETINGS = {"en": "Hello", "de": "Hallo", "fr": "Bonjour", "es": "Hola"}
SIGN_OFFS = {"en": "Best regards", "de": "Viele Grüße", "fr": "Cordialement", "es": "Saludos"}
CARD_BODY = (
    "Hello, I was charged twice for invoice INV-4471. "
    "My card number is 4111 1111 1111 1111 if you need it. Please fix this."
)


@pytest.fixture(scope="module")
def provider() -> OfflineProvider:
    return OfflineProvider(OfflineConfig())


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def classify_request(subject: str, body: str, hint: str | None = None, **kw) -> ModelRequest:
    variables = {
        "subject": subject,
        "body": body,
        "language_hint": hint,
        "customer_tier": "pro",
        "channel": "email",
    }
    return ModelRequest(
        task=CLASSIFY_TASK,
        model="offline-1",
        prompt_id="triage.classify",
        prompt_version="1",
        messages=[Message(role="system", content="Classify."), Message(role="user", content=body)],
        variables=variables,
        json_output=True,
        **kw,
    )


def draft_request(
    language: str, body: str = "My parcel is late.", feedback: list[str] | None = None, **kw
) -> ModelRequest:
    variables = {
        "subject": "Parcel",
        "body": body,
        "customer_name": "Alex Doe",
        "category": "shipping",
        "priority": "normal",
        "language": language,
        "ticket_id": "T-1001",
        "qa_feedback": feedback or [],
        "attempt": 1 if not feedback else 2,
    }
    return ModelRequest(
        task=DRAFT_TASK,
        model="offline-1",
        prompt_id="triage.draft",
        prompt_version="1",
        messages=[Message(role="user", content=body)],
        variables=variables,
        json_output=True,
        **kw,
    )


# --- data ----------------------------------------------------------------------------


def test_data_files_cover_categories_and_languages():
    examples, held_out = _rows("examples.jsonl"), _rows("eval.jsonl")
    categories = Counter(r["category"] for r in examples)
    languages = Counter(r["language"] for r in examples)
    assert len(examples) == 268
    assert len(held_out) == 49
    assert set(categories) == {
        "billing",
        "technical",
        "account",
        "shipping",
        "returns",
        "feedback",
        "other",
    }
    assert min(categories.values()) == 38
    assert languages == {"en": 98, "de": 58, "fr": 56, "es": 56}
    assert not {r["text"] for r in examples} & {r["text"] for r in held_out}


# --- classify -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "hint", "expected"),
    [
        (
            "Charged twice for one invoice",
            "Hi, my credit card was charged two times for the same invoice this month. "
            "Please refund one of the payments.",
            None,
            ("billing", "high", "en"),
        ),
        (
            "Plattform komplett ausgefallen",
            "Seit heute Morgen ist Ihre Plattform ausgefallen und keiner unserer Mitarbeiter "
            "kann arbeiten. Bitte sofort beheben!",
            None,
            ("technical", "urgent", "de"),
        ),
        (
            "Colis jamais arrivé",
            "Bonjour, ma commande 30877 devait être livrée la semaine dernière mais le colis "
            "n'est jamais arrivé. Le suivi ne bouge plus.",
            None,
            ("shipping", "normal", "fr"),
        ),
        (
            "Quiero devolver unos pantalones",
            "Hola, los pantalones que compré son demasiado largos. "
            "¿Cómo puedo devolverlos y recuperar el dinero?",
            None,
            ("returns", "low", "es"),
        ),
        (
            "Reset my password",
            "I can't log into my account because I forgot my password and the reset link "
            "does not arrive.",
            "de",  # the channel's hint wins over detection
            ("account", "normal", "de"),
        ),
        (
            "Job opening",
            "Hello, I saw you are hiring and would like to apply for the marketing manager "
            "role. My CV is attached.",
            None,
            ("other", "low", "en"),
        ),
        (
            "Invoice needed asap",
            "Please send me the invoice for March asap, our auditors need it today.",
            None,
            ("billing", "urgent", "en"),  # the keyword, not the neighbours, sets urgent
        ),
        (
            "Reembolso inmediato",
            "Me cobraron dos veces la suscripción, necesito que devuelvan el cobro inmediatamente.",
            None,
            ("billing", "urgent", "es"),
        ),
        (
            "Love the new update",
            "Just wanted to say the new version of the app is fantastic, great work by the "
            "whole team!",
            None,
            ("feedback", "low", "en"),
        ),
    ],
)
async def test_classify_exact(provider, subject, body, hint, expected):
    response = await provider.complete(classify_request(subject, body, hint))
    out = json.loads(response.text)
    assert (out["category"], out["priority"], out["language"]) == expected
    assert set(out) == {"category", "priority", "confidence", "language", "reasoning"}
    assert out["reasoning"].startswith("nearest examples: ")


async def test_held_out_accuracy(provider):
    rows = _rows("eval.jsonl")
    correct = 0
    for row in rows:
        subject, _, body = row["text"].partition("\n")
        out = json.loads((await provider.complete(classify_request(subject, body))).text)
        correct += out["category"] == row["category"]
    print(f"held-out accuracy: {correct}/{len(rows)} = {correct / len(rows):.3f}")
    assert correct == 48


async def test_confidence_low_for_vague_high_for_clear(provider):
    vague = await provider.complete(
        classify_request("Question", "Hi, I have a question, can you help me?")
    )
    clear = await provider.complete(
        classify_request(
            "Wrong charge",
            "Hello, I got charged 59 dollars instead of 29 for my monthly plan. "
            "Please correct my invoice.",
        )
    )
    assert json.loads(vague.text)["confidence"] == 0.19
    assert json.loads(clear.text)["confidence"] == 1.0


async def test_gibberish_has_zero_confidence(provider):
    out = json.loads((await provider.complete(classify_request("hi", "asdf qwerty zxcv"))).text)
    assert out["confidence"] == 0.0


async def test_classify_without_text_is_bad_request(provider):
    with pytest.raises(BadRequest):
        await provider.complete(classify_request("", "  "))


def test_index_build_and_classify_are_cheap():
    started = time.perf_counter()
    provider = OfflineProvider(OfflineConfig())
    build = time.perf_counter() - started
    started = time.perf_counter()
    for row in _rows("eval.jsonl"):
        subject, _, body = row["text"].partition("\n")
        provider.classify({"subject": subject, "body": body})
    per_call = (time.perf_counter() - started) / 49
    print(f"index build {build * 1000:.1f} ms, classify {per_call * 1000:.2f} ms")
    assert build < 1.0
    assert per_call < 0.020


# --- draft ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"), [*((lang, lang) for lang in GREETINGS), ("it", "en")]
)
async def test_draft_greets_and_signs_off_in_language(provider, language, expected):
    response = await provider.complete(draft_request(language))
    draft = json.loads(response.text)
    reply = draft["reply"]
    lines = reply.splitlines()
    assert set(draft) == {"reply", "reasoning"}
    assert lines[0] == f"{GREETINGS[expected]} Alex Doe,"
    assert lines[-2].startswith(SIGN_OFFS[expected])
    assert lines[-1] == "aiflow Support"
    assert "T-1001" in reply
    assert 120 <= len(reply) <= 1200
    for promise in ("guarantee", "full refund", "refund within"):
        assert promise not in reply.lower()


async def test_draft_without_name_uses_neutral_greeting(provider):
    request = draft_request("fr")
    request.variables["customer_name"] = None
    reply = json.loads((await provider.complete(request)).text)["reply"]
    assert reply.splitlines()[0] == "Bonjour,"


async def test_draft_mentions_order_number_from_body(provider):
    request = draft_request("en", body="Where is order 48213? It is two weeks late.")
    reply = json.loads((await provider.complete(request)).text)["reply"]
    assert "We have noted the reference 48213 from your message." in reply


async def test_first_draft_echoes_card_number_and_feedback_removes_it(provider):
    first = json.loads((await provider.complete(draft_request("en", body=CARD_BODY))).text)
    assert 'You wrote: "My card number is 4111 1111 1111 1111 if you need it."' in first["reply"]
    retry = await provider.complete(
        draft_request("en", body=CARD_BODY, feedback=["pii: the reply repeats a card number"])
    )
    reply = json.loads(retry.text)["reply"]
    assert "4111" not in reply
    assert "You wrote" not in reply
    assert "INV-4471" in reply  # the reference is a fact, not a quote


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
async def test_longest_possible_draft_stays_within_bounds(provider, language):
    request = draft_request(language, body="x " * 300 + "card 4111-1111-1111-1111 " + "y " * 300)
    request.variables.update(customer_name="N" * 200, ticket_id="T" * 200, priority="urgent")
    request.variables["category"] = "returns"
    reply = json.loads((await provider.complete(request)).text)["reply"]
    assert "4111-1111-1111-1111" in reply
    assert 120 <= len(reply) <= 1200


async def test_draft_without_ticket_id_is_bad_request(provider):
    request = draft_request("en")
    request.variables["ticket_id"] = ""
    with pytest.raises(BadRequest):
        await provider.complete(request)


# --- the response envelope ------------------------------------------------------------


async def test_usage_model_and_provider(provider):
    request = draft_request("en")
    response = await provider.complete(request)
    assert response.usage.input_tokens == math.ceil(len("My parcel is late.") / 4)
    assert response.usage.output_tokens == math.ceil(len(response.text) / 4)
    assert response.usage.estimated is True
    assert (response.model, response.provider) == ("offline-1", "offline")
    assert response.latency_ms > 0


async def test_usage_is_at_least_one_token(provider):
    request = classify_request("Refund", "x")
    request.messages = []
    response = await provider.complete(request)
    assert response.usage.input_tokens == 1


async def test_same_request_same_output(provider):
    request = classify_request("Invoice", "Please send me the invoice for May.", request_key="k1")
    other = OfflineProvider(OfflineConfig())
    texts = {(await p.complete(request)).text for p in (provider, provider, other)}
    assert len(texts) == 1


async def test_unknown_task_is_bad_request(provider):
    request = classify_request("a", "b")
    request.task = "triage.summarize"
    with pytest.raises(BadRequest, match="unknown task"):
        await provider.complete(request)


# --- latency and faults ---------------------------------------------------------------


async def test_latency_is_simulated():
    slow = OfflineProvider(OfflineConfig(latency_ms=50))
    started = time.perf_counter()
    response = await slow.complete(classify_request("Invoice", "Where is my invoice?"))
    assert time.perf_counter() - started >= 0.05
    assert response.latency_ms >= 50


async def test_jitter_comes_from_the_request_hash():
    cfg = OfflineConfig(latency_ms=10, latency_jitter_ms=80, seed="s")
    digest = hashlib.sha256(b"s:jitter-key:1").digest()
    expected = 10 + int.from_bytes(digest[12:16], "big") / 2**32 * 80
    response = await OfflineProvider(cfg).complete(
        classify_request("Invoice", "Where is my invoice?", request_key="jitter-key")
    )
    assert expected > 10
    assert response.latency_ms >= expected


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("rate_limit", RateLimited, 429),
        ("server_error", ProviderUnavailable, 500),
        ("bad_request", BadRequest, 400),
        ("timeout", ProviderTimeout, None),
    ],
)
async def test_each_fault_kind_raises_its_error(kind, error, status):
    cfg = OfflineConfig(
        fault_rate=1.0, fault_kinds=[kind], timeout_seconds=0.05, rate_limit_retry_after=1.5
    )
    faulty = OfflineProvider(cfg)
    started = time.perf_counter()
    with pytest.raises(ModelError) as caught:
        await faulty.complete(classify_request("a", "b", request_key="f"))
    assert type(caught.value) is error
    assert caught.value.status == status
    if kind == "rate_limit":
        assert caught.value.retry_after == 1.5
    if kind == "timeout":
        assert time.perf_counter() - started >= 0.05


async def test_malformed_output_does_not_parse(provider):
    broken = OfflineProvider(OfflineConfig(fault_rate=1.0, fault_kinds=["malformed"]))
    request = classify_request("Invoice", "Where is my invoice?", request_key="m")
    text = (await broken.complete(request)).text
    whole = (await provider.complete(request)).text
    assert text == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


async def test_fault_max_attempt_stops_faults_after_attempt_two(provider):
    cfg = OfflineConfig(fault_rate=1.0, fault_kinds=["server_error"], fault_max_attempt=2)
    flaky = OfflineProvider(cfg)
    for attempt in (1, 2):
        with pytest.raises(ProviderUnavailable):
            await flaky.complete(classify_request("a", "b", request_key="r", attempt=attempt))
    request = classify_request("a", "b", request_key="r", attempt=3)
    assert (await flaky.complete(request)).text == (await provider.complete(request)).text


async def test_fault_rate_is_deterministic_per_key_and_attempt():
    cfg = OfflineConfig(fault_rate=0.3, fault_kinds=["rate_limit", "server_error"])
    flaky = OfflineProvider(cfg)
    kinds: Counter[str] = Counter()
    for i in range(200):
        try:
            await flaky.complete(classify_request("Invoice", "Where?", request_key=f"wf-{i}"))
            kinds["ok"] += 1
        except (RateLimited, ProviderUnavailable) as err:
            kinds[type(err).__name__] += 1
    assert kinds == {"ok": 147, "RateLimited": 26, "ProviderUnavailable": 27}
