"""The cache's pure decisions: slots, masking, templates, the entity guard and the keys."""

from __future__ import annotations

from contracts import Draft, ModelTarget, NormalizedTicket, PromptRef
from decisions import answer_cache as ac


def ticket(name: str, email: str, subject: str, body: str, tid: str = "T-1") -> NormalizedTicket:
    return NormalizedTicket(
        ticket_id=tid,
        subject=subject,
        body=body,
        customer_email=email,
        customer_name=name,
        channel="email",
        customer_tier="pro",
    )


ANNA = ticket(
    "Anna Berg",
    "anna@example.com",
    "Where is my order #48213?",
    "Hi, I ordered on 2026-11-02 and paid 49.90 EUR. Order #48213 has not arrived. "
    "Tracking 1Z999AA10123456784. Anna Berg, Lindenstraße 4, Kassel",
)
BOB = ticket("Bob Stone", "bob@example.com", "Where is my order #55501?", "It is late. Bob", "T-2")


def test_slots_are_the_items_own_values():
    assert ac.item_slots(ANNA) == {
        "ticket_id": "T-1",
        "email": "anna@example.com",
        "name": "Anna Berg",
        "first_name": "Anna",
        "last_name": "Berg",
        "tracking": "1Z999AA10123456784",
        "order": "#48213",
        "order_bare": "48213",
        "amount": "49.90 EUR",
        "date": "2026-11-02",
    }


def test_the_question_has_no_customer_data_and_is_the_same_for_two_customers():
    a = ac.question(ANNA, ac.item_slots(ANNA))
    assert a == (
        "where is my order {{order}}? hi, i ordered on {{date}} and paid {{amount}}. order "
        "{{order}} has not arrived. tracking {{tracking}}. {{name}}, lindenstrasse 4, kassel"
    )
    other = ticket("Cem Ay", "cem@example.com", "Where is my order ORD-2024-5531?", "x")
    assert ac.question(other, ac.item_slots(other)) == "where is my order {{order}}? x"


def test_amounts_in_other_spellings_are_values_too():
    t = ticket("A B", "a@b.example", "Refund", "I paid EUR 134,50 and 118,68 euros and $12.")
    assert [v for k, v in ac.item_slots(t).items() if k.startswith("amount")] == [
        "EUR 134,50",
        "118,68 euros",
        "$12",
    ]


def test_a_template_is_filled_for_the_next_customer_and_keeps_its_paragraphs():
    reply = "Hello Anna Berg,\n\nYour order #48213 (ref 48213) is on its way.\n\nBest regards"
    template = ac.templatize({"reply": reply}, ac.item_slots(ANNA))
    assert template == {
        "reply": "Hello {{name}},\n\nYour order {{order}} (ref {{order_bare}}) is on its way."
        "\n\nBest regards"
    }
    assert ac.fill(template, ac.item_slots(BOB)) == {
        "reply": "Hello Bob Stone,\n\nYour order #55501 (ref 55501) is on its way.\n\nBest regards"
    }


def test_a_template_whose_slot_the_item_lacks_is_not_filled():
    template = {"reply": "We refunded {{amount}}."}
    assert ac.fill(template, ac.item_slots(BOB)) is None


def test_the_guard_finds_another_customers_values_and_passes_the_items_own():
    source = ac.source_hashes(ac.item_slots(ANNA), f"{ANNA.subject}\n{ANNA.body}")
    bob = ac.item_slots(BOB)
    own_text = f"{BOB.subject}\n{BOB.body}"
    clean = "Hello Bob Stone,\n\nYour order #55501 is on its way.\n\nBest regards"
    assert ac.foreign_values(clean, bob, source, own_text) == []
    assert ac.foreign_values("We wrote to anna@example.com.", bob, source, own_text) == [
        "email",
        "source_value",
    ]
    assert ac.foreign_values("Hello Bob, and Anna too.", bob, source, own_text) == ["source_value"]
    assert ac.foreign_values("Your parcel goes to Kassel.", bob, source, own_text) == [
        "source_value"
    ]
    assert ac.foreign_values("Refund of 49.90 EUR.", bob, source, own_text) == [
        "amount",
        "source_value",
    ]


def test_keys_change_with_every_input_that_shapes_the_answer():
    prompt = PromptRef(id="triage.draft", version="v1", sha256="a" * 64)
    target = ModelTarget(
        alias="offline-draft",
        provider="offline",
        model="offline-template-v1",
        queue="q",
        context_window=8000,
        max_output_tokens=1000,
        input_per_mtok=0.1,
        output_per_mtok=0.4,
    )
    schema = ac.schema_version(Draft)
    base = ac.fingerprint("draft", prompt, schema, [target], "rules-v1+abc", {"category": "x"})
    variants = [
        ac.fingerprint("classify", prompt, schema, [target], "rules-v1+abc", {"category": "x"}),
        ac.fingerprint(
            "draft", prompt.model_copy(update={"version": "v2"}), schema, [target], "rules-v1+abc"
        ),
        ac.fingerprint(
            "draft",
            prompt.model_copy(update={"sha256": "b" * 64}),
            schema,
            [target],
            "rules-v1+abc",
        ),
        ac.fingerprint(
            "draft", prompt, "other-schema", [target], "rules-v1+abc", {"category": "x"}
        ),
        ac.fingerprint(
            "draft",
            prompt,
            schema,
            [target.model_copy(update={"model": "m2"})],
            "rules-v1+abc",
            {"category": "x"},
        ),
        ac.fingerprint("draft", prompt, schema, [target], "rules-v2+def", {"category": "x"}),
        ac.fingerprint("draft", prompt, schema, [target], "rules-v1+abc", {"category": "y"}),
    ]
    assert len({base, *variants}) == 8
    assert ac.exact_key(base, "q") == ac.exact_key(base, "q")
    assert ac.exact_key(base, "q") != ac.exact_key(base, "q", {"customer_tier": "vip"})
    assert len(ac.exact_key(base, "q")) == 64
