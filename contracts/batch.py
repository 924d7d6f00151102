"""Wire types of the gateway's batched model call: several independent model calls in one
activity task, for workflows that have many at once (a bulk job over many items). Each
call keeps its own response-log key (its `workflow_id` and `step`), cost and errors."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts import ModelStepInput, ModelStepResult, Wire


class ModelBatchInput(Wire):
    calls: list[ModelStepInput] = Field(min_length=1)


class ModelCallError(Wire):
    """A non-retryable failure of one call, as `model_call` would have raised it."""

    type: str  # e.g. InvalidStructuredOutput, UnknownModel, AuthenticationFailed
    message: str
    details: list[Any] = Field(default_factory=list)


class ModelBatchItem(Wire):
    result: ModelStepResult | None = None  # exactly one of result and error is set
    error: ModelCallError | None = None


class ModelBatchResult(Wire):
    items: list[ModelBatchItem]  # in the order of the input's calls
