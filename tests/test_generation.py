"""The generation workflow's pure decisions (decisions/generation_checks.py), its wire
types' caps, the offline provider's three tasks, and the demo briefs' reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from activities.errors import BadRequest
from activities.providers.offline_generation import TASKS, _slip
from activities.store import Store
from contracts.generation import Brief, ContentFinding, GeneratedContent, JudgeVerdict
from decisions.generation_checks import (
    check_content,
    feedback_lines,
    high_stakes,
    prompt_from_brief,
    template_content,
)
from starter.content import brief_items
from tests.conftest import ROOT, make_settings
from workflows.generation import brief_variables
from workflows.registry import output_schemas, specs

BRIEF = Brief(
    brief_id="B-1",
    kind="product_description",
    brand="Lumo",
    audience="home office workers",
    must_include=["dimmable", "USB-C"],
    must_avoid=["revolutionary"],
    max_words=30,
    facts={"product": "Desk Lamp", "price": "59 EUR", "previous_price": "79 EUR"},
)


def content(body: str, title: str | None = None) -> GeneratedContent:
    return GeneratedContent(title=title, body=body)


def checks(body: str, brief: Brief = BRIEF) -> list[tuple[str, str]]:
    return [(f.check, f.detail) for f in check_content(content(body), brief)]


def test_clean_content_has_no_findings():
    assert checks("The dimmable Lumo Desk Lamp charges over USB-C, for 59 EUR.") == []


def test_each_check_reports_what_it_found():
    body = (
        "Dear {name}, the revolutionary Lumo lamp is dimmable and costs 59 EUR: save 20 EUR, "
        "TODO add more. " + "really " * 20
    )
    assert checks(body) == [
        ("too_long", "38 words > 30"),
        ("missing", "USB-C"),
        ("avoided", "revolutionary"),
        ("unsupported_claim", "20"),
        ("placeholder", "TODO"),
        ("placeholder", "{name}"),
    ]


def test_numbers_are_compared_as_values_and_words_whole():
    brief = BRIEF.model_copy(update={"facts": {"price": "59.00 EUR"}, "must_avoid": ["eco"]})
    assert checks("Lumo: dimmable, USB-C, 59,00 EUR or 59 EUR; an echo of light.", brief) == []


def test_wrong_language_is_found_only_with_enough_text():
    de = BRIEF.model_copy(update={"language": "de", "max_words": 100})
    assert checks("Lumo dimmable USB-C", de) == []
    assert checks("The lamp is dimmable and the USB-C port is for you and your desk.", de) == [
        ("language", "en != de")
    ]


def test_high_stakes_by_brief_and_by_content():
    assert high_stakes(BRIEF, content("A dimmable lamp.")) == []
    assert high_stakes(BRIEF, content("Only 59 EUR.")) == ["high_stakes:pricing"]
    warranty = BRIEF.model_copy(update={"facts": {"warranty": "2 years"}})
    assert high_stakes(warranty, None) == ["high_stakes:guarantee"]
    assert high_stakes(BRIEF, content("Clinically proven, money-back guarantee.")) == [
        "high_stakes:guarantee",
        "high_stakes:legal",
    ]


def test_feedback_lines_put_checks_before_the_judge():
    verdict = JudgeVerdict(score=0.5, feedback=["Address the audience directly."])
    findings = [ContentFinding(check="missing", detail="USB-C")]
    assert feedback_lines(findings, verdict) == [
        "Missing required phrase 'USB-C': include it verbatim.",
        "Address the audience directly.",
    ]


def test_template_uses_only_the_facts_and_passes_the_number_check():
    t = template_content(BRIEF)
    assert (t.title, t.body) == (
        "Lumo: Desk Lamp",
        "Price: 59 EUR.\nPrevious price: 79 EUR.\ndimmable; USB-C.\nLumo",
    )
    assert [f.check for f in check_content(t, BRIEF)] == []


def test_brief_caps_name_the_field():
    with pytest.raises(ValidationError) as err:
        Brief.model_validate({**BRIEF.model_dump(), "must_include": ["x"] * 11})
    assert err.value.errors()[0]["loc"] == ("must_include",)
    with pytest.raises(ValidationError):
        Brief.model_validate({**BRIEF.model_dump(), "brief_id": "has space"})


def test_output_schemas_are_registered_for_the_gateway():
    schemas = output_schemas(specs())  # every registered workflow's, as the worker passes
    for name in ("GenerationPrompt", "GeneratedContent", "JudgeVerdict"):
        assert schemas[name].__name__ == name


# --- the offline provider's tasks -----------------------------------------------------


def variables(brief: Brief, feedback: list[str] | None = None) -> dict:
    return {**brief_variables(brief), "qa_feedback": feedback or [], "attempt": 1}


def test_brief_task_is_the_derived_prompt():
    assert TASKS["generate.brief"](variables(BRIEF)) == prompt_from_brief(BRIEF).model_dump()


def test_writer_claims_a_saving_until_told_it_is_unsupported():
    brief = BRIEF.model_copy(update={"brief_id": "PD-002", "max_words": 60})
    assert _slip("PD-002") == 3
    first = GeneratedContent(**TASKS["generate.write"](variables(brief)))
    assert first.body == (
        "Meet the Desk Lamp from Lumo. Made for home office workers, it keeps things simple.\n"
        "Available now for 59 EUR. Save 20 EUR compared with the old price! "
        "Highlights: dimmable, USB-C.\nDiscover it today."
    )
    found = check_content(first, brief)
    assert [(f.check, f.detail) for f in found] == [("unsupported_claim", "20")]
    fixed = GeneratedContent(
        **TASKS["generate.write"](variables(brief, feedback_lines(found, None)))
    )
    assert check_content(fixed, brief) == []
    assert "Save" not in fixed.body


def test_writer_slips_are_fixed_when_named():
    base = BRIEF.model_copy(update={"facts": {"product": "Desk Lamp"}, "max_words": 60})
    dropper = base.model_copy(update={"brief_id": "PD-001"})  # slip 0
    assert _slip("PD-001") == 0
    first = GeneratedContent(**TASKS["generate.write"](variables(dropper)))
    assert [f.check for f in check_content(first, dropper)] == ["missing"]
    again = TASKS["generate.write"](variables(dropper, ["Missing required phrase 'USB-C'"]))
    assert check_content(GeneratedContent(**again), dropper) == []


def test_judge_scores_against_the_requirements():
    brief = BRIEF.model_copy(update={"facts": {}})
    good = {"title": None, "body": "Lumo for home office workers: dimmable, USB-C."}
    assert TASKS["generate.judge"]({**brief_variables(brief), **good}) == {
        "score": 1.0,
        "requirements": [
            {"requirement": "names the brand Lumo", "passed": True},
            {"requirement": "includes 'dimmable'", "passed": True},
            {"requirement": "includes 'USB-C'", "passed": True},
            {"requirement": "avoids 'revolutionary'", "passed": True},
            {"requirement": "at most 30 words", "passed": True},
            {"requirement": "speaks to home office workers", "passed": True},
        ],
        "feedback": [],
        "reasoning": "6/6 requirements met",
    }
    bad = {"title": None, "body": "A revolutionary lamp, dimmable."}
    verdict = JudgeVerdict(**TASKS["generate.judge"]({**brief_variables(brief), **bad}))
    assert verdict.score == 0.333  # 2 of 6 met (a failure caps the score at 0.5)
    assert verdict.feedback == [
        "Name the brand Lumo.",
        "Include the phrase 'USB-C'.",
        "Remove 'revolutionary'.",
        "Address the audience (home office workers) directly.",
    ]


def test_a_task_given_no_brief_is_a_bad_request():
    with pytest.raises(BadRequest):
        TASKS["generate.write"]({"brief_id": "x"})


# --- the reader -----------------------------------------------------------------------


def test_demo_briefs_all_validate(tmp_path):
    settings = make_settings(tmp_path)
    items = list(brief_items(ROOT / "data" / "briefs" / "demo.jsonl", Store("sqlite://"), settings))
    assert len(items) == 21
    assert [i.error for i in items if i.error] == []
    assert items[0].key == "PD-001"
    assert items[0].summary == "product description for Nordlicht"


def test_an_invalid_brief_is_one_line_naming_field_and_cap(tmp_path: Path):
    path = tmp_path / "briefs.json"
    raw = {"brief_id": "B-9", "kind": "customer_email", "brand": "x", "voice": "v" * 201}
    path.write_text(json.dumps([raw, {**raw, "voice": "ok"}]))
    items = list(brief_items(path, Store("sqlite://"), make_settings(tmp_path)))
    assert [(i.key, i.error) for i in items] == [
        ("B-9", "voice: String should have at most 200 characters"),
        ("B-9", None),
    ]
