"""OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp, LiteLLM) behind
`ModelProvider`, over the chat completions or the responses API.

Failures leave as `activities.errors` (via `sdk_error`), never as SDK exceptions; the
client is built without retries because Temporal owns them.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import openai
from openai import AsyncOpenAI, DefaultAioHttpClient
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from activities.errors import (
    ContentFiltered,
    MalformedOutput,
    sdk_error,
    unreadable_answer,
)
from activities.providers.base import ModelRequest, ModelResponse
from activities.providers.http import CONNECTION_LIMITS
from contracts import Usage

# Compatible servers ignore the key, but the SDK would otherwise look for OPENAI_API_KEY.
LOCAL_API_KEY = "unused"


def build_openai_client(api_key: str | None, base_url: str | None, timeout_s: float) -> AsyncOpenAI:
    """The one client a worker process shares; only a compatible server may go without a key."""
    if not api_key and not base_url:
        raise ValueError("OpenAI needs an API key (only a compatible base_url may omit it)")
    key = api_key or LOCAL_API_KEY
    return AsyncOpenAI(
        api_key=key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,
        http_client=DefaultAioHttpClient(limits=CONNECTION_LIMITS, timeout=timeout_s),
    )


class OpenAIProvider:
    """`ModelProvider` over an `AsyncOpenAI`; `name` tells apart several compatible servers."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        name: str = "openai",
        api: Literal["chat", "responses"] = "chat",
    ) -> None:
        self.name = name
        self._client = client
        self._api = api

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        try:
            if self._api == "chat":
                text, reported, model = await self._chat(request)
            else:
                text, reported, model = await self._responses(request)
        except (openai.APIError, json.JSONDecodeError) as err:
            raise sdk_error(self.name, err, openai) from None
        if reported is None:  # some local servers report no usage: ~4 characters a token
            chars_in = sum(len(m.content) for m in request.messages)
            usage = Usage(
                input_tokens=-(-chars_in // 4), output_tokens=-(-len(text) // 4), estimated=True
            )
        else:
            usage = Usage(input_tokens=reported[0], output_tokens=reported[1], estimated=False)
        return ModelResponse(
            text=text,
            usage=usage,
            model=model or request.model,
            provider=self.name,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def _chat(self, request: ModelRequest) -> tuple[str, tuple[int, int] | None, str]:
        extra: dict[str, Any] = {}
        if request.json_output:
            extra["response_format"] = {"type": "json_object"}
        result = await self._client.chat.completions.create(
            model=request.model,
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            max_tokens=request.max_output_tokens,
            **extra,
        )
        if not isinstance(result, ChatCompletion):
            raise unreadable_answer(self.name)  # a non-JSON content type comes back as str
        choices = getattr(result, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedOutput(f"{self.name}: the completion has no choices")
        choice = choices[0]
        message = getattr(choice, "message", None)
        if choice.finish_reason == "content_filter" or getattr(message, "refusal", None):
            raise ContentFiltered(f"{self.name}: finish_reason {choice.finish_reason}")
        u = getattr(result, "usage", None)
        reported = (u.prompt_tokens, u.completion_tokens) if u is not None else None
        return getattr(message, "content", None) or "", reported, getattr(result, "model", "")

    async def _responses(self, request: ModelRequest) -> tuple[str, tuple[int, int] | None, str]:
        extra: dict[str, Any] = {}
        if request.json_output:
            extra["text"] = {"format": {"type": "json_object"}}
        result = await self._client.responses.create(
            model=request.model,
            input=[{"role": m.role, "content": m.content} for m in request.messages],
            max_output_tokens=request.max_output_tokens,
            store=False,  # tickets are customer data: keep them out of the vendor's storage
            **extra,
        )
        if not isinstance(result, Response):
            raise unreadable_answer(self.name)
        details = getattr(result, "incomplete_details", None)
        if getattr(details, "reason", None) == "content_filter" or _has_refusal(result):
            raise ContentFiltered(f"{self.name}: response filtered or refused")
        if not isinstance(getattr(result, "output", None), list):
            raise MalformedOutput(f"{self.name}: the response has no output list")
        u = getattr(result, "usage", None)
        reported = (u.input_tokens, u.output_tokens) if u is not None else None
        return result.output_text, reported, getattr(result, "model", "")


def _has_refusal(result: Response) -> bool:
    return any(
        getattr(part, "type", None) == "refusal"
        for item in getattr(result, "output", None) or []
        if getattr(item, "type", None) == "message"
        for part in getattr(item, "content", None) or []
    )
