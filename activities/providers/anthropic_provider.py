"""Anthropic's Messages API behind `ModelProvider`; SDK exceptions leave as
`activities.errors` and the client never retries (as in `openai_provider`)."""

from __future__ import annotations

import json
import time

import anthropic
from anthropic import AsyncAnthropic, DefaultAioHttpClient
from anthropic.types import Message as AnthropicMessage

from activities.errors import (
    BadRequest,
    ContentFiltered,
    MalformedOutput,
    sdk_error,
    unreadable_answer,
)
from activities.providers.base import ModelRequest, ModelResponse
from activities.providers.http import CONNECTION_LIMITS
from contracts import Usage


def build_anthropic_client(
    api_key: str | None, base_url: str | None, timeout_s: float
) -> AsyncAnthropic:
    """The one client a worker process shares, with an explicit key (no env/profile lookup)."""
    if not api_key:
        raise ValueError("Anthropic needs an API key")
    return AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,
        http_client=DefaultAioHttpClient(limits=CONNECTION_LIMITS, timeout=timeout_s),
    )


class AnthropicProvider:
    """`ModelProvider` over an `AsyncAnthropic`: system prompt on top, user/assistant turns."""

    def __init__(self, client: AsyncAnthropic, *, name: str = "anthropic") -> None:
        self.name = name
        self._client = client

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content} for m in request.messages]
        turns = [t for t in turns if t["role"] != "system"]
        if any(t["role"] not in ("user", "assistant") for t in turns):
            raise BadRequest(f"{self.name}: roles must be system, user or assistant")
        started = time.perf_counter()
        try:
            result = await self._client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens,
                messages=turns,
                **({"system": system} if system else {}),
            )
        except (anthropic.APIError, json.JSONDecodeError) as err:
            raise sdk_error(self.name, err, anthropic) from None
        if not isinstance(result, AnthropicMessage):
            raise unreadable_answer(self.name)  # a non-JSON content type comes back as str
        if result.stop_reason == "refusal":
            raise ContentFiltered(f"{self.name}: stop_reason refusal")
        content, usage = getattr(result, "content", None), getattr(result, "usage", None)
        if not isinstance(content, list) or usage is None:
            raise MalformedOutput(f"{self.name}: the message has no content list or usage")
        return ModelResponse(
            text="".join(b.text for b in content if getattr(b, "type", None) == "text"),
            usage=Usage(
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, estimated=False
            ),
            model=result.model or request.model,
            provider=self.name,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
