"""bench.ladder_workload: the seeded workload of the cache + cascade benchmark, and its
scoring helpers (`leaked`, `scripted_decision`). Exact figures are for seed 7, defaults."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import ladder_workload as lw
from bench.ladder_workload import Item, generate, leaked, scripted_decision, summary
from contracts import (
    CATEGORIES,
    PRIORITIES,
    ReviewDecision,
    ReviewProposal,
    ReviewRequest,
    RuleSet,
    Ticket,
)
from decisions.rules import evaluate_rules
from settings import Settings
from starter.ticket_file import read_tickets
from workflows.intake import validate_ticket
from workflows.qa import check_reply
from workflows.review import refusal

ROOT = Path(__file__).resolve().parents[1]
RULES = RuleSet.model_validate_json((ROOT / "data" / "rules" / "triage-v1.json").read_text())
MAX_BODY_CHARS = Settings.model_fields["max_body_chars"].default

SEED7_SHA256 = "56b3083ec9aa823bfb9230d9430597f2d98c2b99b6dcb417dc17394f75acc5f5"
SEED7_LANGUAGES = {"en": 240, "de": 60, "fr": 52, "es": 48}  # each part
# Intent counts per part in popularity order (Zipf, 1/rank): the same quotas in both parts.
SEED7_INTENT_COUNTS = [69, 34, 23, 17, 14, 12, 10, 9, 8, 7, 6, 6, 5, 5, 5, 4, 4, 4, 4, 3]
SEED7_INTENT_COUNTS += [3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2]


@pytest.fixture(scope="module")
def workload() -> lw.Workload:
    return generate()


def _all(workload: lw.Workload) -> list[Item]:
    return [*workload.warmup, *workload.heldout]


# --- determinism and sizes ---------------------------------------------------------------


def test_same_seed_gives_the_same_workload_and_digest(workload: lw.Workload) -> None:
    again = generate(seed=7)
    assert lw.dump(again) == lw.dump(workload)
    assert again == workload
    assert hashlib.sha256(lw.dump(workload).encode()).hexdigest() == SEED7_SHA256


def test_another_seed_gives_another_workload(workload: lw.Workload) -> None:
    other = generate(seed=8)
    assert lw.dump(other) != lw.dump(workload)
    texts = {(i.ticket["subject"], i.ticket["body"]) for i in _all(workload)}
    shared = [i for i in _all(other) if (i.ticket["subject"], i.ticket["body"]) in texts]
    assert len(shared) < 20  # a few bare phrasings may coincide; the workloads do not
    # The shape is the seed's too: the same quotas, other draws.
    assert summary(other)["by_language"] == summary(workload)["by_language"]


def test_sizes_are_exact() -> None:
    small = generate(seed=3, warmup=50, heldout=30, head_share=0.5)
    assert (len(small.warmup), len(small.heldout)) == (50, 30)
    assert sum(i.intent is not None for i in small.warmup) == 25
    assert sum(i.intent is not None for i in small.heldout) == 15
    assert [i.ticket["ticket_id"] for i in _all(small)] == [f"LW-{n:06d}" for n in range(1, 81)]
    only_head = generate(warmup=10, heldout=0, head_share=1.0)
    assert len(only_head.warmup) == 10 and only_head.heldout == []
    assert all(i.intent for i in only_head.warmup)
    only_tail = generate(warmup=12, heldout=12, head_share=0.0)
    assert not any(i.intent for i in _all(only_tail))


@pytest.mark.parametrize(
    "kwargs", [{"warmup": -1}, {"heldout": -5}, {"head_share": 1.5}, {"head_share": -0.1}]
)
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(**kwargs)


# --- shape of the traffic (seed 7) ---------------------------------------------------------


def test_seed7_counts_are_exact(workload: lw.Workload) -> None:
    s = summary(workload)
    assert s["items"] == {"warmup": 400, "heldout": 400, "total": 800}
    assert s["by_language"] == {"warmup": SEED7_LANGUAGES, "heldout": SEED7_LANGUAGES}
    assert s["head"] == {"warmup": 280, "heldout": 280}
    assert s["tail"] == {"warmup": 120, "heldout": 120}
    assert s["distinct_intents"] == {"warmup": 32, "heldout": 32, "shared": 32, "defined": 32}
    assert s["distinct_texts"] == {"warmup": 400, "heldout": 400, "total": 800}
    assert s["heldout_texts_in_warmup"] == 0
    assert s["heldout_customers_in_warmup"] == 0
    assert s["by_priority"] == {
        "warmup": {"low": 39, "normal": 298, "high": 35, "urgent": 28},
        "heldout": {"low": 51, "normal": 289, "high": 34, "urgent": 26},
    }
    assert s["by_category"] == {
        "warmup": {
            "billing": 65,
            "technical": 46,
            "account": 59,
            "shipping": 113,
            "returns": 74,
            "feedback": 16,
            "other": 27,
        },
        "heldout": {
            "billing": 62,
            "technical": 46,
            "account": 55,
            "shipping": 117,
            "returns": 69,
            "feedback": 25,
            "other": 26,
        },
    }
    assert s["top_intents"] == {
        "where_is_order": 138,
        "refund_not_received": 68,
        "reset_password": 46,
        "double_charged": 34,
        "change_shipping_address": 28,
    }


def test_languages_split_alike_in_head_and_tail(workload: lw.Workload) -> None:
    for part in (workload.warmup, workload.heldout):
        head = Counter(i.language for i in part if i.intent)
        tail = Counter(i.language for i in part if not i.intent)
        assert head == {"en": 168, "de": 42, "fr": 36, "es": 34}
        assert tail == {"en": 72, "de": 18, "fr": 16, "es": 14}


def test_intent_popularity_is_zipf_like(workload: lw.Workload) -> None:
    order = [p.id for p in lw.HEAD]
    assert 25 <= len(order) <= 40
    assert set(p.category for p in lw.HEAD) == set(CATEGORIES)  # spread over every category
    for part in (workload.warmup, workload.heldout):
        counts = Counter(i.intent for i in part if i.intent)
        assert [counts[i] for i in order] == SEED7_INTENT_COUNTS


def test_each_intent_is_asked_in_many_ways(workload: lw.Workload) -> None:
    for p in lw.HEAD:
        for lang in lw.LANGUAGES:
            assert len(p.bodies[lang]) >= 3 and len(p.subjects[lang]) >= 2
    by_intent: dict[str, set[str]] = {}
    for i in _all(workload):
        if i.intent:
            by_intent.setdefault(i.intent, set()).add(i.ticket["body"])
    counts = Counter(i.intent for i in _all(workload) if i.intent)
    assert all(len(by_intent[k]) == n for k, n in counts.items())  # no body repeats


def test_truth_is_consistent(workload: lw.Workload) -> None:
    intents = {p.id: p for p in lw.HEAD}
    for i in _all(workload):
        assert i.category in CATEGORIES and i.priority in PRIORITIES
        assert i.language in lw.LANGUAGES
        assert i.ticket["language"] in (i.language, None)
        if i.intent is not None:
            assert i.category == intents[i.intent].category
        text = f"{i.ticket['subject']}\n{i.ticket['body']}"
        # urgent exactly when the text says so; otherwise the intent's or topic's priority
        assert (i.priority == "urgent") == bool(lw.URGENT_RE.search(text)), text
        if i.intent is not None and i.priority != "urgent":
            assert i.priority == intents[i.intent].priority


def test_ticket_ids_are_unique(workload: lw.Workload) -> None:
    ids = [i.ticket["ticket_id"] for i in _all(workload)]
    assert ids == [f"LW-{n:06d}" for n in range(1, 801)]
    assert set(lw.by_ticket_id(workload)) == set(ids)


# --- held-out vs warm-up ------------------------------------------------------------------


def test_no_heldout_text_is_in_the_warmup(workload: lw.Workload) -> None:
    def texts(items: list[Item], normalize: bool) -> list[tuple[str, str]]:
        out = []
        for i in items:
            t = i.ticket
            if normalize:  # as the workflow sees it
                n, _ = validate_ticket(Ticket.model_validate(t), MAX_BODY_CHARS)
                assert n is not None
                out.append((n.subject, n.body))
            else:
                out.append((t["subject"], t["body"]))
        return out

    for normalize in (False, True):
        warm = texts(workload.warmup, normalize)
        held = texts(workload.heldout, normalize)
        assert not set(warm) & set(held)
        assert len(set(warm)) == len(warm) and len(set(held)) == len(held)


def test_no_heldout_customer_is_in_the_warmup(workload: lw.Workload) -> None:
    def values(items: list[Item]) -> set[str]:
        keys = [k for k in lw.LEAK_KEYS if k not in ("first_name", "last_name")]
        found = {i.ticket["customer_name"] for i in items}
        found |= {i.ticket["customer_email"].lower() for i in items}
        return found | {i.entities[k] for i in items for k in keys if k in i.entities}

    assert not values(workload.warmup) & values(workload.heldout)
    names = [i.entities["name"] for i in _all(workload)]
    emails = [i.entities["email"] for i in _all(workload)]
    assert len(set(names)) == len(names) and len(set(emails)) == len(emails)


def test_tail_topics_are_disjoint_between_the_parts() -> None:
    warm, held = lw._split_topics(7)
    assert not {t.id for t in warm} & {t.id for t in held}
    assert sorted(t.id for t in (*warm, *held)) == sorted(t.id for t in lw.TAIL)
    for half in (warm, held):
        assert {lang for t in half for lang in t.bodies} == set(lw.LANGUAGES)
        assert {t.category for t in half} == set(CATEGORIES)
    assert not {t.id for t in lw.TAIL} & {p.id for p in lw.HEAD}


def test_heldout_tail_texts_come_only_from_heldout_topics(workload: lw.Workload) -> None:
    warm, held = lw._split_topics(7)
    held_subjects = {s for t in held for subjects in t.subjects.values() for s in subjects}
    warm_subjects = {s for t in warm for subjects in t.subjects.values() for s in subjects}
    for item in workload.heldout:
        if item.intent is None:
            subject = re.sub(
                r"^(?:URGENT|URGENTE|Dringend|Re|AW|RE) ?: ", "", item.ticket["subject"]
            )
            assert any(_matches(subject, s) for s in held_subjects), subject
            assert not any(_matches(subject, s) for s in warm_subjects), subject


def _matches(text: str, template: str) -> bool:
    pattern = re.escape(template.lower())
    pattern = re.sub(r"\\\{\w+\\\}", ".+", pattern)
    return re.fullmatch(pattern, text.lower()) is not None


# --- tickets are valid and mostly pass the rules -----------------------------------------


def test_every_ticket_passes_intake(workload: lw.Workload) -> None:
    for item in _all(workload):
        ticket = Ticket.model_validate(item.ticket)
        normalized, rejections = validate_ticket(ticket, MAX_BODY_CHARS)
        assert rejections == [], (item.ticket["ticket_id"], rejections)
        assert normalized is not None
        assert normalized.customer_email == item.entities["email"]
        assert set(item.ticket) == {
            *("ticket_id", "subject", "body", "customer_email", "customer_name"),
            *("channel", "customer_tier", "language", "metadata"),
        }
        json.dumps(item.ticket)  # JSON-ready


def test_rules_close_nothing_and_route_only_by_tier_or_channel(workload: lw.Workload) -> None:
    hits: Counter[str] = Counter()
    for item in _all(workload):
        normalized, _ = validate_ticket(Ticket.model_validate(item.ticket), MAX_BODY_CHARS)
        assert normalized is not None
        verdict = evaluate_rules(RULES, normalized)
        assert verdict.close is None, item.ticket
        expected = []
        if item.ticket["customer_tier"] in ("vip", "enterprise"):
            expected.append("vip-enterprise")
        if item.ticket["channel"] == "phone":
            expected.append("phone-voice")
        assert [m.rule_id for m in verdict.matches] == expected, item.ticket
        hits.update(expected)
    assert hits == {"vip-enterprise": 27, "phone-voice": 13}  # 40 of 800: a few


def test_entities_are_this_tickets_values(workload: lw.Workload) -> None:
    for item in _all(workload):
        t = item.ticket
        text = f"{t['subject']}\n{t['body']}"
        e = item.entities
        assert e["name"] == t["customer_name"] == f"{e['first_name']} {e['last_name']}"
        for key, value in e.items():
            if key in ("name", "first_name", "last_name", "email"):
                continue
            assert value in text, (key, value, text)
        for placeholder in ("{", "}"):
            assert placeholder not in text


def test_perturbations_are_present(workload: lw.Workload) -> None:
    bodies = [i.ticket["body"] for i in _all(workload)]
    orders = [i.entities["order_id"] for i in _all(workload) if "order_id" in i.entities]
    formats = Counter(
        "hash" if o.startswith("#") else o.split("-")[0] if "-" in o else "NW" for o in orders
    )
    assert set(formats) == {"hash", "ORD", "A", "NW"}
    assert sum(b.startswith(("Hi,", "Hello,", "Hallo,", "Bonjour,", "Hola,")) for b in bodies) > 100
    assert sum("\n\n" not in b for b in bodies) > 100  # bare chat lines
    assert sum(b == b.lower() for b in bodies) > 20  # lower-case chat style
    amounts = [i.entities["amount"] for i in _all(workload) if "amount" in i.entities]
    assert {a[0] for a in amounts} >= {"$", "€", "£"} and any(a.endswith(" €") for a in amounts)


# --- leaked -------------------------------------------------------------------------------


def test_leaked_finds_another_customers_values(workload: lw.Workload) -> None:
    mine = workload.warmup[0]
    other = next(i for i in workload.heldout if "order_id" in i.entities)
    assert other.entities["name"] == "Tyler Reynolds"
    assert other.entities["order_id"] == "#32041"
    reply = (
        "Hello Tyler Reynolds,\n\nyour order #32041 is on its way.\n\nBest regards,\naiflow Support"
    )
    assert leaked(reply, mine, workload) == ["Tyler Reynolds", "#32041"]
    # Parts of a name count on their own, but not again inside the full name.
    assert leaked("Dear Ms Reynolds, order #32041", mine, workload) == ["Reynolds", "#32041"]
    assert leaked("Hi Tyler Reynolds! Regards, Reynolds", mine, workload) == [
        "Tyler Reynolds",
        "Reynolds",
    ]
    assert leaked(reply, other, workload) == []  # the same reply is right for its customer
    email = other.entities["email"].upper()
    assert leaked(f"We wrote to {email}.", mine, workload) == [other.entities["email"]]
    assert leaked(f"Amount: {other.entities['amount']}.", mine, workload) == ["$388.90"]


def test_leaked_ignores_the_items_own_values_and_near_misses(workload: lw.Workload) -> None:
    mine = workload.warmup[0]
    assert mine.entities["name"] == "Margaux Leroy"
    own = f"Bonjour Margaux Leroy,\n\nnous écrivons à {mine.entities['email']}.\n\nCordialement"
    assert leaked(own, mine, workload) == []
    # Another customer shares this first name: it is this customer's too, so not a leak.
    namesake = next(
        i for i in _all(workload) if i.entities["first_name"] == "Margaux" and i is not mine
    )
    assert leaked("Bonjour Margaux,", mine, workload) == []
    assert leaked(f"Bonjour {namesake.entities['name']},", mine, workload) == [
        namesake.entities["name"]
    ]
    # Exact tokens only: a longer number or a word containing a name is not the value.
    assert leaked("order #320415 and Tylers", mine, workload) == []
    assert (
        leaked("Your ticket is being handled. Best regards, aiflow Support", mine, workload) == []
    )


def test_correct_replies_leak_nothing_and_pass_qa(workload: lw.Workload) -> None:
    for item in _all(workload)[::7]:
        reply = lw.correct_reply(item)
        assert leaked(reply, item, workload) == []
        normalized, _ = validate_ticket(Ticket.model_validate(item.ticket), MAX_BODY_CHARS)
        assert normalized is not None
        assert check_reply(reply, normalized, item.language).findings == []


# --- scripted_decision --------------------------------------------------------------------


def _request(item: Item, category: str | None, reply: str | None) -> dict:
    normalized, _ = validate_ticket(Ticket.model_validate(item.ticket), MAX_BODY_CHARS)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    request = ReviewRequest(
        review_id=f"rv-{item.ticket['ticket_id']}",
        version=2,
        workflow_id=f"triage-{item.ticket['ticket_id']}",
        ticket_id=item.ticket["ticket_id"],
        queue="general",
        ticket=normalized,
        proposal=ReviewProposal(category=category, priority="low", reply=reply),
        requested_at=now,
        sla_deadline=now,
    )
    return request.model_dump(mode="json")


def _applies(request: dict, decision: dict) -> None:
    """The decision is one the review workflow accepts for this request."""
    assert refusal(ReviewRequest.model_validate(request), ReviewDecision(**decision), 0) is None


def test_scripted_decision_approves_the_right_category(workload: lw.Workload) -> None:
    item = workload.warmup[0]  # technical/normal
    request = _request(item, "technical", "Bonjour,\n\nMerci.\n\nCordialement")
    decision = scripted_decision(request, item)
    assert decision == {
        "action": "approve",
        "reviewer": "bench-reviewer",
        "review_id": "rv-LW-000001",
        "version": 2,
        "note": "truth: technical/normal",
    }
    _applies(request, decision)


def test_scripted_decision_edits_a_wrong_category(workload: lw.Workload) -> None:
    item = workload.heldout[0]  # billing/high
    assert (item.category, item.priority) == ("billing", "high")
    request = _request(item, "shipping", "Hello,\n\nWe will look into it.\n\nBest regards")
    decision = scripted_decision(request, item)
    assert decision == {
        "action": "edit",
        "reviewer": "bench-reviewer",
        "review_id": "rv-LW-000401",
        "version": 2,
        "category": "billing",
        "priority": "high",
        "reply": lw.correct_reply(item, item.ticket["customer_name"]),
        "note": "truth: billing/high",
    }  # a reply for the wrong category answers the wrong question: rewritten
    assert decision["reply"].startswith("Hello Tyler Reynolds,\n\n")
    _applies(request, decision)


def test_scripted_decision_writes_a_reply_when_there_is_none(workload: lw.Workload) -> None:
    item = workload.heldout[0]
    wrong = scripted_decision(_request(item, None, None), item)
    assert wrong["action"] == "edit"
    assert (wrong["category"], wrong["priority"]) == ("billing", "high")
    assert wrong["reply"] == (
        "Hello Tyler Reynolds,\n\n"
        "Thank you for contacting us. Your request is registered under ticket LW-000401. "
        "Our billing team will review the charges and invoices on your account and correct "
        "anything that does not match your plan. If a correction is needed, you will receive "
        "an updated invoice by email.\n\n"
        "If you have any further questions, simply reply to this email.\n\n"
        "Best regards,\naiflow Support"
    )
    _applies(_request(item, None, None), wrong)
    right = _request(item, "billing", "   ")
    decision = scripted_decision(right, item)
    assert decision == {
        "action": "edit",
        "reviewer": "bench-reviewer",
        "review_id": "rv-LW-000401",
        "version": 2,
        "reply": wrong["reply"],
        "note": "truth: billing/high",
    }  # an empty reply cannot be approved: the category stays, a reply is written
    _applies(right, decision)


def test_scripted_decision_takes_a_bare_request(workload: lw.Workload) -> None:
    item = workload.warmup[0]
    decision = scripted_decision({"proposal": {"category": "technical", "reply": "ok"}}, item)
    assert decision == {
        "action": "approve",
        "reviewer": "bench-reviewer",
        "note": "truth: technical/normal",
    }


# --- files and command line ---------------------------------------------------------------


def test_main_writes_both_parts_as_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workload: lw.Workload
) -> None:
    assert lw.main(["--out", str(tmp_path / "out")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(summary(workload)))
    warm = lw.read_jsonl(tmp_path / "out" / "warmup.jsonl")
    held = lw.read_jsonl(tmp_path / "out" / "heldout.jsonl")
    assert (warm, held) == (workload.warmup, workload.heldout)
    # The same files are tickets `aiflow submit` reads (the truth fields are ignored).
    rows = read_tickets(tmp_path / "out" / "heldout.jsonl")
    assert [Ticket.model_validate(r).ticket_id for r in rows] == [
        i.ticket["ticket_id"] for i in workload.heldout
    ]
