"""Errors of the model layer, classified once at the activity boundary.

    ModelError                      base of everything a provider call can raise
    ├── RetryableModelError         Temporal retries it (with next_retry_delay if known)
    │   ├── RateLimited             429; carries retry_after seconds
    │   ├── ProviderUnavailable     5xx (incl. 529 overloaded), 408, 409, connection
    │   │                           errors, a 200 whose body is not the API's JSON
    │   ├── ProviderTimeout         the call outlived the client timeout
    │   └── MalformedOutput         the model answered but the output did not parse
    └── PermanentModelError         never retried
        ├── BadRequest              400/413/422 and any other 4xx
        │   └── ContextLengthExceeded  the prompt does not fit the model's context
        ├── ContentFiltered         the vendor's filter or the model refused
        ├── AuthenticationFailed    401/403: a bad or revoked key
        └── ModelNotFound           404: a model id or base URL the provider does not know

What the workflow does with each, once the retries are spent, is its degradation policy
(`workflows/degrade.py`): the failure classes below name the types of each class.

`sdk_error` maps an openai/anthropic SDK exception to this tree (an HTTP status through
`http_status_error`, which reads the wait hint with `retry_after_seconds`), and
`to_application_error` turns any of them into the ApplicationError Temporal sees.
Messages carry status, vendor error type/code and request id only: never vendor free text,
which may quote the prompt or the API key. MalformedOutput also covers a 200 of the wrong
shape (no choices, no output list).
"""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory


class ModelError(Exception):
    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class RetryableModelError(ModelError):
    pass


class RateLimited(RetryableModelError):
    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderUnavailable(RetryableModelError):
    status = 503


class ProviderTimeout(RetryableModelError):
    pass


class MalformedOutput(RetryableModelError):
    pass


class PermanentModelError(ModelError):
    pass


class BadRequest(PermanentModelError):
    status = 400


class ContextLengthExceeded(BadRequest):
    pass


class ContentFiltered(PermanentModelError):
    pass


class AuthenticationFailed(PermanentModelError):
    status = 401


class ModelNotFound(PermanentModelError):
    status = 404


# Names the workflow's retry policies list as non-retryable, as a second guard.
NON_RETRYABLE_TYPES = [
    "BadRequest",
    "ContextLengthExceeded",
    "ContentFiltered",
    "AuthenticationFailed",
    "ModelNotFound",
    "PayloadsTooLarge",
]

# Failure classes, by the ApplicationError type the workflow sees once retries are spent.
# Transient: the provider is down or overloaded; waiting helps ("CircuitOpen": a retry
# that found the shared breaker opened meanwhile).
TRANSIENT_TYPES = frozenset(
    {"RateLimited", "ProviderUnavailable", "ProviderTimeout", "MalformedOutput", "CircuitOpen"}
)
# Configuration: an operator's mistake (key, model id, deployment); fixed in minutes, and
# no call succeeds until it is. The first two come from the provider and trip the config
# breaker; the others are raised by the gateway of a worker deployed out of step.
CONFIG_TYPES = frozenset(
    {
        "AuthenticationFailed",
        "ModelNotFound",
        "ProviderNotConfigured",
        "UnknownModel",
        "PromptError",
    }
)
PROVIDER_CONFIG_ERRORS = ("AuthenticationFailed", "ModelNotFound")

# Codes and wordings vendors use for "prompt too long": openai/vLLM/LiteLLM
# `context_length_exceeded`, llama.cpp `exceed_context_size_error`, anthropic
# "prompt is too long: N tokens > M maximum" / "input length and `max_tokens` exceed
# context limit".
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_WORDING = re.compile(
    r"context[ _](?:length|window|size|limit)|prompt is too long|too many tokens",
    re.IGNORECASE,
)
# Azure OpenAI answers a filtered prompt with 400 and code `content_filter`.
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The server's wait hint: `retry-after-ms`, else `retry-after` (seconds or HTTP date).

    `headers` must look names up case-insensitively (httpx2.Headers does).
    """
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    value = (headers.get("retry-after") or "").strip()
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0.0 <= number < float("inf") else None


def http_status_error(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    *,
    error_type: str | None = None,
    code: str | None = None,
    vendor_message: str | None = None,
    request_id: str | None = None,
) -> ModelError:
    """The aiflow error for an HTTP failure. `vendor_message` is matched, never repeated."""
    labels = [x for x in (error_type, code) if x and _IDENTIFIER.fullmatch(x)]
    message = " ".join([f"{provider}: HTTP {status}", *dict.fromkeys(labels)])
    if request_id and _IDENTIFIER.fullmatch(request_id):
        message += f" (request {request_id})"
    if status == 429:
        return RateLimited(message, status=status, retry_after=retry_after_seconds(headers))
    if status in (408, 409) or status >= 500:
        return ProviderUnavailable(message, status=status)
    if status in (401, 403):
        return AuthenticationFailed(message, status=status)
    if status == 404:
        return ModelNotFound(f"{message}: model or endpoint not found", status=status)
    if code in _FILTER_CODES:
        return ContentFiltered(f"{message}: content filtered", status=status)
    if {code, error_type} & _CONTEXT_CODES or _CONTEXT_WORDING.search(vendor_message or ""):
        return ContextLengthExceeded(f"{message}: context length exceeded", status=status)
    return BadRequest(message, status=status)


def sdk_error(provider: str, err: Exception, sdk: Any) -> ModelError:
    """The aiflow error for an exception of the `openai` or `anthropic` SDK.

    `sdk` is the SDK module: both share one exception tree (APIStatusError, APITimeoutError,
    APIConnectionError, ...), and this module imports neither. Anything else it is handed,
    e.g. the JSONDecodeError of a 200 whose body is not JSON, is an unreadable answer.
    """
    if isinstance(err, sdk.APIStatusError):
        body = err.body if isinstance(err.body, dict) else {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        details = inner.get("details") if isinstance(inner.get("details"), dict) else {}
        fields = {
            "error_type": inner.get("type"),
            "code": inner.get("code") or details.get("error_code"),
            "vendor_message": inner.get("message"),
        }
        return http_status_error(
            provider,
            err.status_code,
            err.response.headers,
            request_id=err.request_id,
            **{k: v if isinstance(v, str) else None for k, v in fields.items()},
        )
    if isinstance(err, sdk.APITimeoutError) and not _refused(err):
        return ProviderTimeout(f"{provider}: no answer within the client timeout")
    if isinstance(err, sdk.APIConnectionError):
        return ProviderUnavailable(f"{provider}: connection failed")
    return unreadable_answer(provider)


def _refused(err: BaseException) -> bool:
    """A refused connection somewhere in the cause chain. The SDKs' aiohttp transport
    reports one as a connect timeout; it is the server being down, not slow."""
    seen: BaseException | None = err
    for _ in range(10):  # causes are short chains; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unreadable_answer(provider: str) -> ProviderUnavailable:
    """A 200 whose body is not the API's JSON: usually a proxy's page, worth a retry."""
    return ProviderUnavailable(f"{provider}: a 200 whose body is not JSON", status=200)


def to_application_error(err: ModelError) -> ApplicationError:
    """The one place a model error becomes what Temporal retries (or not).

    A provider's failure is expected, not a bug: it is BENIGN to the SDK, which then logs
    it at debug level without a traceback; the gateway logs one line for it instead."""
    delay = None
    if isinstance(err, RateLimited) and err.retry_after is not None:
        delay = timedelta(seconds=max(0.0, err.retry_after))
    return ApplicationError(
        str(err),
        {"status": err.status},
        type=type(err).__name__,
        non_retryable=isinstance(err, PermanentModelError),
        next_retry_delay=delay,
        category=ApplicationErrorCategory.BENIGN,
    )
