"""The content generation workflow end to end on a real Temporal dev server, with aiflow's
real workers, the offline provider (or a local fake OpenAI server that refuses every
request, for the outages) and a SQLite store."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from activities.providers.offline_generation import _slip
from activities.store import Store
from contracts.generation import GenerationInput, GenerationResult, GenerationStatus
from contracts.items import FieldAction, FieldDecision, FieldDelta, FieldReviewRequest
from settings import Settings
from tests.conftest import ROOT, running_worker
from tests.fakes.llm_server import Fail, FakeLLMServer
from workflows.generation import GenerationWorkflow


def brief_id(slip: int, tag: str) -> str:
    """A fresh brief id whose first-try slip (offline writer) is `slip`: 0 drops the last
    required phrase, 1 forgets the audience, 2 leaves a placeholder in e-mails, 3 none."""
    base = f"{tag}-{uuid.uuid4().hex[:6]}"
    return next(f"{base}-{i}" for i in range(100) if _slip(f"{base}-{i}") == slip)


def brief(slip: int = 3, **overrides) -> dict:
    return {
        "brief_id": brief_id(slip, "G"),
        "kind": "product_description",
        "brand": "Nordlicht",
        "voice": "warm and calm",
        "audience": "new parents",
        "must_include": ["organic cotton", "machine washable"],
        "must_avoid": ["cheap"],
        "max_words": 80,
        "facts": {"product": "Baby Blanket", "size": "80 x 100 cm", "colour": "sand"},
        **overrides,
    }


async def start(client: Client, settings: Settings, raw: dict) -> WorkflowHandle:
    Store(settings.store_url).create_schema()
    return await client.start_workflow(
        GenerationWorkflow.run,
        GenerationInput(brief=raw),
        id=f"content-{raw['brief_id']}",
        task_queue=settings.orchestration_queue,
    )


async def pending_review(handle: WorkflowHandle) -> FieldReviewRequest:
    for _ in range(300):
        req = await handle.query(GenerationWorkflow.field_review)
        if req is not None:
            return req
        await asyncio.sleep(0.1)
    raise AssertionError("no field review opened")


def steps_of(result: GenerationResult | GenerationStatus) -> list[tuple[str, str]]:
    return [(s.step, s.outcome) for s in result.steps]


BODY = (
    "Meet the Baby Blanket from Nordlicht. Made for new parents, it keeps things simple.\n"
    "Size: 80 x 100 cm. Colour: sand. Highlights: organic cotton, machine washable.\n"
    "Discover it today."
)


async def test_passes_first_time_and_is_published(env, settings):
    raw = brief()
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        result = await handle.result()
    assert result.outcome == "published"
    assert steps_of(result) == [
        ("intake", "ok"),
        ("brief", "ok"),
        ("generate", "ok"),
        ("qa", "pass"),
        ("judge", "ok"),
        ("verdict", "pass"),
        ("decide", "publish"),
        ("finalize", "published"),
    ]
    assert (result.title, result.body) == ("Nordlicht Baby Blanket", BODY)
    assert [(a.attempt, a.findings, a.score, a.passed) for a in result.attempts] == [
        (1, [], 1.0, True)
    ]
    models = [s for s in result.steps if s.kind == "model"]
    assert [(s.model, s.prompt_version) for s in models] == [
        ("offline-brief-v1", "generate.brief@v1"),
        ("offline-writer-v1", "generate.write@v1"),
        ("offline-judge-v1", "generate.judge@v1"),
    ]
    assert result.model_calls == 3
    assert result.cost_usd == round(sum(s.cost_usd for s in result.steps), 10) > 0
    assert result.attempts[0].cost_usd == round(models[1].cost_usd + models[2].cost_usd, 10)
    store = Store(settings.store_url)
    row = store.get_run(handle.id)
    store.close()
    assert (row.stage, row.outcome, row.category, row.model_calls) == (
        "done",
        "published",
        "product_description",
        3,
    )


async def test_failed_qa_regenerates_with_the_feedback(env, settings):
    raw = brief(slip=0)
    async with running_worker(env.client, settings):
        result = await (await start(env.client, settings, raw)).result()
    assert result.outcome == "published"
    assert steps_of(result) == [
        ("intake", "ok"),
        ("brief", "ok"),
        ("generate", "ok"),
        ("qa", "fail"),
        ("generate", "ok"),
        ("qa", "pass"),
        ("judge", "ok"),
        ("verdict", "pass"),
        ("decide", "publish"),
        ("finalize", "published"),
    ]
    failed = result.steps[3]
    assert failed.details == {
        "attempt": 1,
        "findings": ["missing:machine washable"],
        "feedback": ["Missing required phrase 'machine washable': include it verbatim."],
    }
    first, second = result.steps[2], result.steps[4]
    assert first.reasoning == "voice warm and calm; language en; dropped a phrase"
    assert second.reasoning == (
        "voice warm and calm; language en; fixed: included 'machine washable' after QA feedback"
    )
    assert [(a.attempt, [f.check for f in a.findings], a.score) for a in result.attempts] == [
        (1, ["missing"], None),
        (2, [], 1.0),
    ]
    assert result.body == BODY


async def test_judge_failure_regenerates(env, settings):
    raw = brief(slip=1)
    async with running_worker(env.client, settings):
        result = await (await start(env.client, settings, raw)).result()
    assert result.outcome == "published"
    assert [(s.step, s.outcome) for s in result.steps if s.step == "verdict"] == [
        ("verdict", "fail"),
        ("verdict", "pass"),
    ]
    first = next(s for s in result.steps if s.step == "verdict")
    assert first.details["score"] == 0.5
    assert first.details["feedback"] == ["Address the audience (new parents) directly."]


async def test_high_stakes_goes_to_review_and_a_correction_is_a_delta(env, settings):
    raw = brief(must_include=["lifetime warranty"], facts={"product": "Hammer H1"})
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        req = await pending_review(handle)
        state = await handle.query(GenerationWorkflow.status)
        assert (state.stage, state.needs_review) == ("review", True)
        assert state.review_reasons == ["high_stakes:guarantee"]
        assert req.in_doubt == {"body": "high_stakes:guarantee"}
        proposed = req.fields["body"]
        assert proposed == (
            "Meet the Hammer H1 from Nordlicht. Made for new parents, it keeps things simple.\n"
            "Highlights: lifetime warranty.\nDiscover it today."
        )
        store = Store(settings.store_url)
        row = store.get_run(handle.id)
        assert (row.stage, row.needs_review, row.outcome) == ("review", True, None)
        await handle.execute_update(
            GenerationWorkflow.review_fields,
            FieldDecision(
                action=FieldAction.CORRECT,
                reviewer="ana",
                corrections={"body": "The Hammer H1 from Nordlicht. See our warranty terms."},
            ),
        )
        result = await handle.result()
        row = store.get_run(handle.id)
        store.close()
    assert result.outcome == "edited"
    assert result.deltas == [
        FieldDelta(
            field="body",
            proposed=proposed,
            corrected="The Hammer H1 from Nordlicht. See our warranty terms.",
        )
    ]
    assert result.body == "The Hammer H1 from Nordlicht. See our warranty terms."
    assert (result.reviewer, result.reasons) == ("ana", ["high_stakes:guarantee"])
    assert steps_of(result)[-3:] == [
        ("decide", "review"),
        ("review", "correct"),
        ("finalize", "edited"),
    ]
    assert (row.stage, row.needs_review, row.outcome) == ("done", False, "edited")


async def test_review_sla_expiry_escalates(env, settings):
    quick = settings.model_copy(update={"review_sla_seconds": 1.0})
    raw = brief(facts={"product": "Lamp", "price": "59 EUR"})
    async with running_worker(env.client, quick):
        result = await (await start(env.client, quick, raw)).result()
    assert result.outcome == "escalated"
    assert result.reasons == ["high_stakes:pricing"]
    assert steps_of(result)[-2:] == [("review", "expired"), ("finalize", "escalated")]


async def test_invalid_brief_is_rejected_not_failed(env, settings):
    raw = brief(max_words=5)
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        result = await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert result.outcome == "rejected"
    assert result.reasons == [
        "invalid_brief:max_words: Input should be greater than or equal to 20"
    ]
    assert steps_of(result) == [("intake", "rejected"), ("finalize", "rejected")]
    assert result.model_calls == 0


@pytest.fixture
def refusing():
    """A provider that refuses every request (400: not retried, not waited for)."""
    with FakeLLMServer(default=Fail(400, "fake refusal")) as server:
        yield server


def refused_step(settings: Settings, fake: FakeLLMServer, tmp_path: Path, step: str) -> Settings:
    """Settings whose `step` runs on an OpenAI model behind the refusing server."""
    catalog = tmp_path / "models.toml"
    text = (ROOT / "data" / "models.toml").read_text()
    catalog.write_text(text.replace("[aliases]\n", '[aliases]\nt-refused = ["gpt-4o-mini"]\n', 1))
    return settings.model_copy(
        update={
            "catalog_file": catalog,
            "step_models": {step: "t-refused"},
            "openai_api_key": SecretStr("sk-test-not-a-real-key"),
            "openai_base_url": fake.openai_base_url,
        }
    )


async def test_generation_unavailable_gives_a_reviewed_template(env, settings, refusing, tmp_path):
    broken = refused_step(settings, refusing, tmp_path, "generate")
    raw = brief()
    async with running_worker(env.client, broken):
        handle = await start(env.client, broken, raw)
        req = await pending_review(handle)
        state = await handle.query(GenerationWorkflow.status)
        assert state.template is True
        assert state.review_reasons == ["model_error:generate", "template"]
        assert req.fields == {
            "title": "Nordlicht: Baby Blanket",
            "body": "Size: 80 x 100 cm.\nColour: sand.\norganic cotton; machine washable.\n"
            "Nordlicht",
        }
        assert req.source["template"] == "yes"
        await handle.execute_update(
            GenerationWorkflow.review_fields,
            FieldDecision(action=FieldAction.APPROVE, reviewer="ana"),
        )
        result = await handle.result()
    assert (result.outcome, result.template, result.deltas) == ("approved", True, [])
    assert steps_of(result) == [
        ("intake", "ok"),
        ("brief", "ok"),
        ("generate", "error"),
        ("template", "ok"),
        ("decide", "review"),
        ("review", "approve"),
        ("finalize", "approved"),
    ]
    assert result.steps[2].reasoning == (
        "BadRequest: openai: HTTP 400 invalid_request_error (request req_fake123)"
    )
    assert len(refusing.requests) == 1


async def test_judge_unavailable_goes_to_review(env, settings, refusing, tmp_path):
    broken = refused_step(settings, refusing, tmp_path, "judge")
    async with running_worker(env.client, broken):
        handle = await start(env.client, broken, brief())
        await pending_review(handle)
        state = await handle.query(GenerationWorkflow.status)
        await handle.execute_update(
            GenerationWorkflow.review_fields,
            FieldDecision(action=FieldAction.REJECT, reviewer="ana"),
        )
        result = await handle.result()
    assert state.review_reasons == ["model_error:judge", "qa_failed"]
    assert steps_of(state) == [
        ("intake", "ok"),
        ("brief", "ok"),
        ("generate", "ok"),
        ("qa", "pass"),
        ("judge", "error"),
        ("decide", "review"),
    ]
    assert (result.outcome, result.template, result.score) == ("rejected", False, None)
