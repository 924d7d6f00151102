"""Errors of the model layer, classified once at the activity boundary.

    ModelError                      base of everything a provider call can raise
    ├── RetryableModelError         Temporal retries it (with next_retry_delay if known)
    │   ├── RateLimited             429; carries retry_after seconds
    │   ├── ProviderUnavailable     5xx, 408, 409, connection errors
    │   ├── ProviderTimeout         the call outlived the client timeout
    │   └── MalformedOutput         the model answered but the output did not parse
    └── PermanentModelError         never retried
        ├── BadRequest              400/404/422 (incl. context length), content filter
        └── AuthenticationFailed    401/403

`to_application_error` turns any of them into the ApplicationError Temporal sees.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError


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


class AuthenticationFailed(PermanentModelError):
    status = 401


# Names the workflow's retry policies list as non-retryable, as a second guard.
NON_RETRYABLE_TYPES = ["BadRequest", "AuthenticationFailed", "PayloadsTooLarge"]


def to_application_error(err: ModelError) -> ApplicationError:
    """The one place a model error becomes what Temporal retries (or not)."""
    delay = None
    if isinstance(err, RateLimited) and err.retry_after is not None:
        delay = timedelta(seconds=max(0.0, err.retry_after))
    return ApplicationError(
        str(err),
        {"status": err.status},
        type=type(err).__name__,
        non_retryable=isinstance(err, PermanentModelError),
        next_retry_delay=delay,
    )
