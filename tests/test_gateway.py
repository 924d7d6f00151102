"""The gateway activity with a scripted provider: repair, re-ask, the response log that
prevents paying twice, and the non-retryable errors it raises."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.catalog import Catalog
from activities.errors import ProviderUnavailable
from activities.gateway import ModelGateway, repair_json
from activities.prompts import PromptError, PromptLibrary
from activities.providers.base import ModelRequest, ModelResponse
from activities.store import Store
from contracts import ModelStepInput, ModelTarget, PromptRef, Usage
from settings import ROOT
from workflows.registry import output_schemas, specs

GOOD = (
    '{"category": "billing", "priority": "high", "confidence": 0.9, "language": "en", '
    '"reasoning": "r"}'
)


class Scripted:
    """A provider that answers from a list and records the requests it got."""

    name = "offline"

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[ModelRequest] = []

    def next_answer(self, request: ModelRequest) -> str | Exception:
        return self.answers.pop(0)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        answer = self.next_answer(request)
        if isinstance(answer, Exception):
            raise answer
        return ModelResponse(
            text=answer,
            usage=Usage(input_tokens=100, output_tokens=20),
            model=request.model,
            provider="offline",
            latency_ms=5.0,
        )


@pytest.fixture
def make(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.create_schema()
    breakers = CircuitBreakers(store.engine, BreakerPolicy())
    breakers.create_schema()
    prompts = PromptLibrary(ROOT / "data" / "prompts")
    catalog = Catalog.load(ROOT / "data" / "models.toml")

    schemas = output_schemas(specs())  # every registered workflow's, as the worker passes

    def build(provider: Scripted, **options) -> ModelGateway:
        return ModelGateway(
            {"offline": provider}, catalog, prompts, store, breakers, schemas=schemas, **options
        )

    yield build
    store.close()


def step_input(prompts_sha: str | None = None, step: str = "classify") -> ModelStepInput:
    ref = PromptLibrary(ROOT / "data" / "prompts").latest("triage.classify").ref
    if prompts_sha is not None:
        ref = PromptRef(id=ref.id, version=ref.version, sha256=prompts_sha)
    return ModelStepInput(
        workflow_id="wf-1",
        step=step,
        prompt=ref,
        target=ModelTarget(
            alias="offline-classify",
            provider="offline",
            model="offline-knn-v1",
            queue="q",
            context_window=32768,
            max_output_tokens=2048,
            input_per_mtok=0.15,
            output_per_mtok=0.6,
        ),
        variables={
            "subject": "s",
            "body": "b",
            "language_hint": None,
            "customer_tier": "free",
            "channel": "email",
        },
        max_output_tokens=200,
    )


def test_repair_json_fixes_fences_prose_and_trailing_commas():
    assert repair_json('```json\n{"a": 1,}\n```') == ('{"a": 1}', ["strip_fence", "trailing_comma"])
    assert repair_json('Sure! {"a": [1, 2,]} hope it helps') == (
        '{"a": [1, 2]}',
        ["extract_object", "trailing_comma"],
    )


async def test_repaired_output_needs_no_reask(make):
    provider = Scripted(f"```json\n{GOOD}\n```")
    result = await ActivityEnvironment().run(make(provider).model_call, step_input())
    assert (result.call.repairs, result.call.reasks, len(provider.requests)) == (
        ["strip_fence"],
        0,
        1,
    )
    assert result.output["category"] == "billing"


async def test_invalid_output_is_reasked_with_the_errors(make):
    provider = Scripted('{"category": "billing"}', GOOD)
    result = await ActivityEnvironment().run(make(provider).model_call, step_input())
    assert result.call.reasks == 1
    assert (result.call.usage.input_tokens, result.call.usage.output_tokens) == (200, 40)
    assert result.call.cost_usd == pytest.approx((200 * 0.15 + 40 * 0.6) / 1e6)
    reask = provider.requests[1].messages
    assert [m.role for m in reask] == ["system", "user", "assistant", "user"]
    assert reask[3].content.startswith("That answer is not valid: priority: Field required")


async def test_output_invalid_after_reask_is_non_retryable_with_partial(make):
    provider = Scripted("not json at all", "still not json")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(make(provider).model_call, step_input())
    err = caught.value
    assert (err.type, err.non_retryable, err.details[0]) == (
        "InvalidStructuredOutput",
        True,
        {"partial": "still not json"},
    )


async def test_a_retry_reuses_the_recorded_answer_instead_of_paying_again(make):
    provider = Scripted(GOOD)
    gateway = make(provider)
    first = await ActivityEnvironment().run(gateway.model_call, step_input())
    again = await ActivityEnvironment().run(gateway.model_call, step_input())  # a retry
    assert len(provider.requests) == 1
    assert (first.call.reused, again.call.reused) == (False, True)
    assert again.output == first.output
    other_step = await ActivityEnvironment().run(
        make(Scripted(GOOD)).model_call, step_input(step="draft#1")
    )
    assert other_step.call.reused is False


async def test_retryable_provider_error_counts_on_the_breaker(make):
    provider = Scripted(ProviderUnavailable("down", status=503))
    gateway = make(provider)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(gateway.model_call, step_input())
    assert (caught.value.type, caught.value.non_retryable) == ("ProviderUnavailable", False)
    [state] = gateway.breakers.snapshot()
    assert (state.key, state.failures) == ("offline/offline-knn-v1", 1)


async def test_prompt_changed_since_pinned_is_refused(make):
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(make(Scripted(GOOD)).model_call, step_input("0" * 64))
    assert (caught.value.type, caught.value.non_retryable) == ("PromptError", True)
    assert caught.value.message == "prompt triage.classify@v1 changed since the run pinned it"


async def test_a_step_expecting_another_schema_than_its_prompt_is_refused_before_a_call(make):
    provider = Scripted(GOOD)
    inp = step_input().model_copy(update={"output_schema": "Draft"})
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(make(provider).model_call, inp)
    assert (caught.value.type, caught.value.non_retryable) == ("PromptError", True)
    assert caught.value.message == (
        "prompt triage.classify@v1 answers Classification, the step expects Draft"
    )
    assert provider.requests == []


async def test_a_model_missing_from_the_catalogue_fails_before_it_is_paid(make):
    provider = Scripted(GOOD)
    inp = step_input()
    inp.target = inp.target.model_copy(update={"model": "not-in-catalogue"})
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(make(provider).model_call, inp)
    assert (caught.value.type, caught.value.non_retryable) == ("UnknownModel", True)
    assert provider.requests == []


def test_a_prompt_naming_an_unknown_schema_fails_the_worker_at_start(tmp_path):
    source = (ROOT / "data" / "prompts" / "triage.classify.v1.toml").read_text()
    (tmp_path / "triage.classify.v1.toml").write_text(
        source.replace('output_schema = "Classification"', 'output_schema = "Nope"')
    )
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(PromptError, match=r"unknown output_schema \['Nope'\]"):
        ModelGateway(
            {},
            Catalog.load(ROOT / "data" / "models.toml"),
            PromptLibrary(tmp_path),
            store,
            CircuitBreakers(store.engine, BreakerPolicy()),
        )
    store.close()
