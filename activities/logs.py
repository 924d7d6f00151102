"""Logging, configured once per process: structlog for aiflow's events, the standard
library (Temporal's SDK, workflow.logger, activity.logger, httpx...) bridged into the
same pipeline; JSON when stderr is not a terminal, readable console output when it is.

Every event gets the Temporal context it happened in (workflow id, run id, activity,
attempt, task queue), and passes `redact` last: values of sensitive keys (prompts,
outputs, bodies, keys, tokens) are never written, and anything shaped like a secret, a
card number or an IBAN (decisions.sensitive) is masked wherever it appears, messages
included.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from temporalio import activity, workflow

from decisions.sensitive import mask

SENSITIVE_KEYS = frozenset(
    {
        "prompt",
        "messages",
        "content",
        "output",
        "reply",
        "body",
        "subject",
        "text",
        "api_key",
        "authorization",
        "password",
        "token",
        "secret",
        "webhook_url",
        "customer_email",
    }
)
SECRET_SHAPES = re.compile(
    r"(?<![\w-])sk-[A-Za-z0-9_-]{8,}"  # OpenAI / Anthropic style keys
    r"|Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:api[_-]?key|token|secret|password)=[^\s&\"']+",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
LOGGED_EXTRAS = ["error", "model", "step", "reason"]  # stdlib `extra=` keys kept as fields
WORKFLOW_FIELDS = ("workflow_id", "run_id", "workflow_type", "task_queue", "attempt")
ACTIVITY_FIELDS = (
    "workflow_id",
    "workflow_run_id",
    "activity_id",
    "activity_type",
    "task_queue",
    "attempt",
)


def temporal_context(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Merge the Temporal ids of the workflow or activity the event was logged in."""
    record = event.get("_record")
    extra_wf = getattr(record, "temporal_workflow", None)
    extra_act = getattr(record, "temporal_activity", None)
    if isinstance(extra_wf, dict):
        event.update({k: extra_wf[k] for k in WORKFLOW_FIELDS if k in extra_wf})
    elif isinstance(extra_act, dict):
        event.update({k: extra_act[k] for k in ACTIVITY_FIELDS if k in extra_act})
    elif activity.in_activity():
        info = activity.info()
        event.setdefault("workflow_id", info.workflow_id)
        event.setdefault("workflow_run_id", info.workflow_run_id)
        event.setdefault("activity_type", info.activity_type)
        event.setdefault("task_queue", info.task_queue)
        event.setdefault("attempt", info.attempt)
    return event


def _mask(value: Any) -> Any:
    if isinstance(value, str):  # log-only shapes first, then the store's one detector
        return mask(SECRET_SHAPES.sub(REDACTED, value))
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in SENSITIVE_KEYS else _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Drop sensitive values and mask secret-shaped strings, at every level."""
    return {
        k: (REDACTED if k.lower() in SENSITIVE_KEYS else _mask(v)) if not k.startswith("_") else v
        for k, v in event.items()
    }


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at each event (a process that swaps it, as a test
    capturing output does, never logs into a closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    """structlog + stdlib, once per process (calling again replaces the handler).
    Events go to `stream` (default: stderr)."""
    json_logs = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        temporal_context,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.ExtraAdder(allow=LOGGED_EXTRAS),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The ids travel as fields (temporal_context), not appended to every message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    for noisy in ("httpx", "httpx2", "httpcore", "aiohttp", "openai", "anthropic"):  # URLs, bodies
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
