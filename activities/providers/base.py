"""The provider interface every model backend implements, and its request/response types.

Providers raise the errors of `activities.errors`; they never retry on their own
(Temporal owns retries).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field

from contracts import Usage

# The task a request performs. Real providers read `messages`; the offline provider,
# which is deterministic code and not a language model, reads `task` and `variables`.
CLASSIFY_TASK = "triage.classify"
DRAFT_TASK = "triage.draft"


class Message(BaseModel):
    role: str  # system | user | assistant
    content: str


class ModelRequest(BaseModel):
    task: str
    model: str
    prompt_id: str
    prompt_version: str
    messages: list[Message]
    variables: dict[str, Any] = Field(default_factory=dict)
    max_output_tokens: int = 512
    json_output: bool = False
    attempt: int = 1
    request_key: str = ""  # stable per (workflow, step, request); used for fault injection


class ModelResponse(BaseModel):
    text: str
    usage: Usage
    model: str
    provider: str
    latency_ms: float


class ModelProvider(Protocol):
    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse: ...
