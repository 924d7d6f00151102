"""Model-step activities: the triage pipeline's classify and draft calls.

Each activity renders a versioned prompt, calls the configured provider once (Temporal
owns retries), classifies failures through `activities.errors`, parses the output into
aiflow's own models and prices the call from the catalogue. Vendor objects never leave.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity

from activities.errors import MalformedOutput, ModelError, to_application_error
from activities.providers.base import (
    CLASSIFY_TASK,
    DRAFT_TASK,
    Message,
    ModelProvider,
    ModelRequest,
)
from contracts import (
    Classification,
    ClassifyInput,
    ClassifyResult,
    Draft,
    DraftInput,
    DraftResult,
    ModelCall,
    Usage,
)

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Prompt:
    id: str
    version: str
    system: str
    user: str
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def render(self, **variables: object) -> list[Message]:
        return [
            Message(role="system", content=self.system),
            Message(role="user", content=self.user.format(**variables)),
        ]


def load_prompt(prompts_dir: Path, prompt_id: str, version: str) -> Prompt:
    path = prompts_dir / f"{prompt_id}.{version}.toml"
    raw = path.read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    if data.get("id") != prompt_id or data.get("version") != version:
        raise ValueError(f"{path}: id/version inside the file do not match its name")
    return Prompt(
        id=prompt_id,
        version=version,
        system=data["system"],
        user=data["user"],
        sha256=hashlib.sha256(raw).hexdigest(),
    )


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    simulated: bool


class PriceBook:
    """Prices per model from data/models.json. An unknown model is an error, never $0."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = data["version"]
        self._prices = {
            name: Price(m["input_per_mtok"], m["output_per_mtok"], m.get("simulated", False))
            for name, m in data["models"].items()
        }

    def cost(self, model: str, usage: Usage) -> float:
        price = self._prices.get(model)
        if price is None:
            raise KeyError(f"no price for model {model!r} in the catalogue")
        usd = (
            usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
        )
        return round(usd / 1_000_000, 10)


def parse_json_output(text: str, schema: type[T]) -> T:
    """Parse a model's JSON answer, tolerating a fenced code block around it."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body.split("\n", 1)[1] if "\n" in body else body
    try:
        return schema.model_validate_json(body)
    except ValidationError as err:
        raise MalformedOutput(
            f"{schema.__name__} output did not validate: {err.error_count()} "
            f"error(s), first: {err.errors()[0]['msg']}"
        ) from err


class TriageModelActivities:
    """Holds the provider and catalogue a worker builds once, and exposes the activities."""

    def __init__(
        self,
        provider: ModelProvider,
        prices: PriceBook,
        prompts_dir: Path,
        classify_model: str,
        draft_model: str,
    ) -> None:
        self.provider = provider
        self.prices = prices
        self.classify_model = classify_model
        self.draft_model = draft_model
        self.classify_prompt = load_prompt(prompts_dir, "triage.classify", "v1")
        self.draft_prompt = load_prompt(prompts_dir, "triage.draft", "v1")
        for model in (classify_model, draft_model):
            prices.cost(model, Usage())  # fail at worker start, not on the first ticket

    async def _complete(
        self,
        *,
        task: str,
        model: str,
        prompt: Prompt,
        schema: type[T],
        variables: dict,
        rendered: dict,
        max_output_tokens: int,
        request_key: str,
    ) -> tuple[T, ModelCall]:
        """One provider call: render, call, parse, price. Errors leave as ApplicationError."""
        attempt = activity.info().attempt
        request = ModelRequest(
            task=task,
            model=model,
            prompt_id=prompt.id,
            prompt_version=prompt.version,
            messages=prompt.render(**rendered),
            variables=variables,
            max_output_tokens=max_output_tokens,
            json_output=True,
            attempt=attempt,
            request_key=request_key,
        )
        try:
            response = await self.provider.complete(request)
            parsed = parse_json_output(response.text, schema)
        except ModelError as err:
            activity.logger.warning(
                "model.call.failed", extra={"error": type(err).__name__, "model": model}
            )
            raise to_application_error(err) from err
        call = ModelCall(
            provider=response.provider,
            model=response.model,
            prompt_id=prompt.id,
            prompt_version=prompt.version,
            usage=response.usage,
            cost_usd=self.prices.cost(response.model, response.usage),
            latency_ms=response.latency_ms,
            attempt=attempt,
        )
        return parsed, call

    @activity.defn(name="classify_ticket")
    async def classify_ticket(self, inp: ClassifyInput) -> ClassifyResult:
        t = inp.ticket
        variables = {
            "subject": t.subject,
            "body": t.body,
            "language_hint": t.language,
            "customer_tier": t.customer_tier,
            "channel": t.channel,
        }
        classification, call = await self._complete(
            task=CLASSIFY_TASK,
            model=self.classify_model,
            prompt=self.classify_prompt,
            schema=Classification,
            variables=variables,
            rendered={**variables, "language_hint": t.language or "none"},
            max_output_tokens=200,
            request_key=f"{inp.workflow_id}:classify",
        )
        return ClassifyResult(classification=classification, call=call)

    @activity.defn(name="draft_reply")
    async def draft_reply(self, inp: DraftInput) -> DraftResult:
        t, c = inp.ticket, inp.classification
        variables = {
            "subject": t.subject,
            "body": t.body,
            "customer_name": t.customer_name,
            "category": c.category,
            "priority": c.priority,
            "language": c.language,
            "ticket_id": t.ticket_id,
            "qa_feedback": inp.qa_feedback,
            "attempt": inp.attempt,
        }
        draft, call = await self._complete(
            task=DRAFT_TASK,
            model=self.draft_model,
            prompt=self.draft_prompt,
            schema=Draft,
            variables=variables,
            rendered={
                **variables,
                "customer_name": t.customer_name or "unknown",
                "qa_feedback": "\n".join(f"- {line}" for line in inp.qa_feedback) or "(none)",
            },
            max_output_tokens=600,
            request_key=f"{inp.workflow_id}:draft:{inp.attempt}",
        )
        return DraftResult(draft=draft, call=call)
