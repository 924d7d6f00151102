"""The offline provider's two tiers: a small one (faster, rougher, honestly calibrated) and
the large one, chosen by model id, for a small-to-large cascade."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from activities.catalog import Catalog
from activities.errors import BadRequest
from activities.providers import offline
from activities.providers.base import CLASSIFY_TASK, DRAFT_TASK, Message, ModelRequest
from activities.providers.offline import OfflineConfig, OfflineProvider
from contracts import NormalizedTicket, QaFinding, Usage
from workflows.qa import check_reply, feedback_lines

ROOT = Path(__file__).resolve().parents[1]
LARGE_CLASSIFY, LITE_CLASSIFY = "offline-knn-v1", "offline-knn-lite-v1"
LARGE_DRAFT, LITE_DRAFT = "offline-template-v1", "offline-template-lite-v1"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8)
CASCADE_THRESHOLD = 0.7
CARD_BODY = (
    "Hello, I was charged twice for invoice INV-4471. "
    "My card number is 4111 1111 1111 1111 if you need it. Please fix this."
)


@pytest.fixture(scope="module")
def provider() -> OfflineProvider:
    return OfflineProvider(OfflineConfig())


def eval_rows() -> list[dict[str, str]]:
    with (ROOT / "data" / "offline" / "eval.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def request(task: str, model: str, variables: dict, **kw) -> ModelRequest:
    content = str(variables.get("body") or "")
    return ModelRequest(
        task=task,
        model=model,
        prompt_id=task,
        prompt_version="1",
        messages=[Message(role="user", content=content)],
        variables=variables,
        json_output=True,
        **kw,
    )


async def classify(provider: OfflineProvider, model: str, text: str, **kw) -> dict:
    subject, _, body = text.partition("\n")
    variables = {"subject": subject, "body": body, "language_hint": None}
    response = await provider.complete(request(CLASSIFY_TASK, model, variables, **kw))
    assert response.model == model
    return json.loads(response.text)


def draft_variables(body: str, feedback: list[str] | None = None, **kw) -> dict:
    return {
        "ticket_id": "T-2001",
        "subject": "Parcel",
        "body": body,
        "customer_name": "Alex Doe",
        "category": "shipping",
        "priority": "normal",
        "language": "en",
        "qa_feedback": feedback or [],
        "attempt": 2 if feedback else 1,
        **kw,
    }


async def draft(provider: OfflineProvider, model: str, variables: dict) -> str:
    response = await provider.complete(request(DRAFT_TASK, model, variables))
    return json.loads(response.text)["reply"]


def ticket(body: str, language: str = "en") -> NormalizedTicket:
    return NormalizedTicket(
        ticket_id="T-2001",
        subject="Parcel",
        body=body,
        customer_email="alex@example.com",
        customer_name="Alex Doe",
        channel="email",
        customer_tier="pro",
        language=language,
    )


async def scores(provider: OfflineProvider, model: str) -> list[tuple[float, bool, bool]]:
    """(confidence, category right, priority right) for each eval ticket."""
    out = []
    for row in eval_rows():
        answer = await classify(provider, model, row["text"])
        right = answer["category"] == row["category"]
        out.append((answer["confidence"], right, answer["priority"] == row["priority"]))
    return out


def table(rows: list[tuple[float, bool, bool]]) -> dict[float, tuple[int, int]]:
    """threshold: (right, answered) among the tickets with confidence >= threshold."""
    return {
        t: (sum(right for c, right, _ in rows if c >= t), sum(c >= t for c, _, _ in rows))
        for t in THRESHOLDS
    }


# --- classify ------------------------------------------------------------------------


async def test_large_tier_is_unchanged_on_eval(provider):
    rows = await scores(provider, LARGE_CLASSIFY)
    assert len(rows) == 49
    assert sum(right for _, right, _ in rows) == 48
    assert sum(prio for _, _, prio in rows) == 35
    assert table(rows) == {0.5: (43, 43), 0.6: (39, 39), 0.7: (29, 29), 0.8: (24, 24)}


async def test_lite_tier_is_measurably_worse_on_eval(provider):
    rows = await scores(provider, LITE_CLASSIFY)
    assert sum(right for _, right, _ in rows) == 42  # of 49, the large tier 48
    assert sum(prio for _, _, prio in rows) == 33  # the large tier 35
    assert table(rows) == {0.5: (39, 41), 0.6: (34, 35), 0.7: (27, 27), 0.8: (17, 17)}
    wrong = sorted(c for c, right, _ in rows if not right)
    assert wrong == [0.225, 0.367, 0.39, 0.417, 0.472, 0.509, 0.692]


async def test_lite_confidence_at_the_cascade_threshold_beats_large_overall(provider):
    lite, large = await scores(provider, LITE_CLASSIFY), await scores(provider, LARGE_CLASSIFY)
    kept = [right for c, right, _ in lite if c >= CASCADE_THRESHOLD]
    large_overall = sum(right for _, right, _ in large) / len(large)
    assert sum(kept) / len(kept) >= large_overall
    assert len(kept) / len(lite) > 0.5  # the cascade keeps more than half on the small tier
    # Below it the small tier is right on only 15 of 22 tickets: those go to the large tier.
    below = [right for c, right, _ in lite if c < CASCADE_THRESHOLD]
    assert (sum(below), len(below)) == (15, 22)


async def test_dispatch_by_model_id(provider):
    text = eval_rows()[30]["text"]  # labelled returns/high
    assert text.startswith("Still waiting for return refund\n")
    large = await classify(provider, LARGE_CLASSIFY, text)
    lite = await classify(provider, LITE_CLASSIFY, text)
    assert (large["category"], large["priority"], large["confidence"]) == ("returns", "high", 0.632)
    assert (lite["category"], lite["priority"], lite["confidence"]) == ("shipping", "normal", 0.509)
    assert lite["confidence"] < CASCADE_THRESHOLD  # wrong, and it says it is unsure
    assert set(lite) == set(large)
    assert lite["language"] == large["language"] == "en"
    assert lite["reasoning"].startswith("nearest examples: ")
    # An offline id without a tier of its own (custom catalogue targets) is the large tier.
    assert await classify(provider, "offline-1", text) == large


async def test_both_tiers_are_deterministic(provider):
    other = OfflineProvider(OfflineConfig())
    text = "Invoice\nPlease send me the invoice for May."
    for model in (LITE_CLASSIFY, LARGE_CLASSIFY):
        answers = [await classify(p, model, text, request_key="k") for p in (provider, other)]
        answers.append(await classify(provider, model, text, request_key="k"))
        assert answers[0] == answers[1] == answers[2]
    for model in (LITE_DRAFT, LARGE_DRAFT):
        replies = {await draft(p, model, draft_variables(CARD_BODY)) for p in (provider, other)}
        assert len(replies) == 1


@pytest.mark.parametrize(
    ("task", "model"),
    [
        (CLASSIFY_TASK, "offline-knn-lite-v2"),
        (CLASSIFY_TASK, "offline-lite"),
        (CLASSIFY_TASK, LITE_DRAFT),
        (CLASSIFY_TASK, LARGE_DRAFT),
        (DRAFT_TASK, LITE_CLASSIFY),
        (DRAFT_TASK, "offline-template_LITE"),
    ],
)
async def test_unknown_model_for_a_triage_task_is_bad_request(provider, task, model):
    known = ", ".join(offline.TIERS[task])
    variables = {"subject": "Invoice", "body": "Where is it?", "ticket_id": "T-1"}
    with pytest.raises(BadRequest) as caught:
        await provider.complete(request(task, model, variables))
    assert str(caught.value) == (
        f"offline provider: unknown model {model!r} for {task} (offline models for it: {known})"
    )
    assert caught.value.status == 400


async def test_lite_latency_is_a_quarter_of_the_large(monkeypatch):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(offline.asyncio, "sleep", sleep)
    timed = OfflineProvider(OfflineConfig(latency_ms=80))
    for model in (LARGE_CLASSIFY, LITE_CLASSIFY):
        await classify(timed, model, "Invoice\nWhere is my invoice?")
    for model in (LARGE_DRAFT, LITE_DRAFT):
        await draft(timed, model, draft_variables("My parcel is late."))
    assert slept == [0.08, 0.02, 0.08, 0.02]
    assert offline.LITE_LATENCY_FACTOR == 0.25


# --- draft ---------------------------------------------------------------------------


async def test_lite_draft_is_shorter_and_passes_qa_on_a_plain_ticket(provider):
    body = "Where is order 48213? It is two weeks late."
    variables = draft_variables(body, priority="urgent")
    lite, large = (
        await draft(provider, LITE_DRAFT, variables),
        await draft(provider, LARGE_DRAFT, variables),
    )
    assert lite == (
        "Hello Alex Doe,\n\n"
        "Thank you for contacting us. Your request is registered under ticket T-2001.\n\n"
        "We have asked our shipping team to check the current status of your delivery with "
        "the carrier. As soon as we have an update, we will email you the latest tracking "
        "information.\n\n"
        "Best regards,\naiflow Support"
    )
    assert "48213" in large and "urgent" in large  # the sentences the small tier leaves out
    assert (len(lite), len(large)) == (300, 494)
    report = check_reply(lite, ticket(body), "en")
    assert (report.passed, report.findings) == (True, [])


async def test_lite_draft_passes_qa_on_every_eval_ticket(provider):
    passed = 0
    for i, row in enumerate(eval_rows()):
        subject, _, body = row["text"].partition("\n")
        variables = draft_variables(
            body, subject=subject, category=row["category"], language=row["language"]
        )
        variables.update(priority=row["priority"], ticket_id=f"T-{i}")
        reply = await draft(provider, LITE_DRAFT, variables)
        passed += check_reply(reply, ticket(body, row["language"]), row["language"]).passed
    assert passed == 49


async def test_lite_draft_echoes_a_card_number_even_after_qa_feedback(provider):
    card = [QaFinding(check="pii", message="contains a payment card number ending 1111")]
    first = await draft(provider, LITE_DRAFT, draft_variables(CARD_BODY))
    report = check_reply(first, ticket(CARD_BODY), "en")
    assert (report.passed, report.findings) == (False, card)
    assert 'You wrote: "My card number is 4111 1111 1111 1111 if you need it."' in first

    feedback = feedback_lines(report)
    assert feedback == ["Remove the payment card number; never repeat card numbers."]
    retry = await draft(provider, LITE_DRAFT, draft_variables(CARD_BODY, feedback))
    assert retry == first  # the small drafter does not act on QA feedback
    assert check_reply(retry, ticket(CARD_BODY), "en").findings == card

    # The cascade's escalation: the large drafter slips the same way but takes the feedback.
    large_first = await draft(provider, LARGE_DRAFT, draft_variables(CARD_BODY))
    assert check_reply(large_first, ticket(CARD_BODY), "en").findings == card
    escalated = await draft(provider, LARGE_DRAFT, draft_variables(CARD_BODY, feedback))
    assert check_reply(escalated, ticket(CARD_BODY), "en").passed


# --- catalogue -----------------------------------------------------------------------


def test_catalogue_prices_the_small_tier_below_the_large():
    catalog = Catalog.load(ROOT / "data" / "models.toml")
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    pairs = {"offline-classify-small": "offline-classify", "offline-draft-small": "offline-draft"}
    expected = {"offline-classify-small": LITE_CLASSIFY, "offline-draft-small": LITE_DRAFT}
    for small, large in pairs.items():
        (lite_target,), (large_target,) = catalog.chain(small), catalog.chain(large)
        assert (lite_target.provider, lite_target.model) == ("offline", expected[small])
        assert lite_target.price is not None and lite_target.price.simulated
        lite_cost, large_cost = (
            catalog.price(lite_target, usage),
            catalog.price(large_target, usage),
        )
        assert (lite_cost.usd, large_cost.usd) == (Decimal("0.50"), Decimal("0.75"))
        assert lite_cost.estimated
    assert [t.model for t in catalog.chain("offline-classify")] == [LARGE_CLASSIFY]
    assert [t.model for t in catalog.chain("offline-draft")] == [LARGE_DRAFT]
