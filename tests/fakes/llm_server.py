"""A local fake LLM server speaking the OpenAI (chat, responses) and Anthropic wire formats.

Each test scripts a queue of behaviours; every request takes the next one and is recorded
(path, lower-cased headers, JSON body) for assertions. A request that finds the queue empty
gets the server's `default` behaviour when one is set (an outage that lasts until the test
sets another: `server.default = Reply(...)`), else a 500 whose message says so, so a
missing script fails loudly, never silently.

    with FakeLLMServer() as server:
        server.script(Reply('{"ok": true}'), Fail(429, headers={"retry-after": "3"}))
        client = AsyncOpenAI(base_url=server.openai_base_url, ...)
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MESSAGES_PATH = "/v1/messages"
PATHS = (CHAT_PATH, RESPONSES_PATH, MESSAGES_PATH)
CREATED = 1_700_000_000


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)  # arrival, for retry timing


@dataclass(frozen=True)
class Reply:
    """A successful completion, rendered in the wire format of the path it answers."""

    text: str
    model: str = "served-model-2025-01-01"
    input_tokens: int = 21
    output_tokens: int = 9
    usage: bool = True  # False: the body carries no usage, as some local servers do
    delay_s: float = 0.0


@dataclass(frozen=True)
class Filtered:
    """The vendor's content filter: openai `finish_reason: content_filter` (chat), an
    `incomplete` response with reason `content_filter` (responses), anthropic
    `stop_reason: refusal` (messages)."""

    model: str = "served-model-2025-01-01"


@dataclass(frozen=True)
class Refused:
    """The model's own refusal: openai `message.refusal` (chat), a `refusal` content part
    (responses); on anthropic, like `Filtered`, `stop_reason: refusal`."""

    refusal: str = "I'm sorry, I can't help with that."


@dataclass(frozen=True)
class NoChoices:
    """A well-formed chat completion with an empty `choices` list."""


@dataclass(frozen=True)
class Fail:
    """An HTTP error in the vendor's error shape (`type`/`code`/`message`)."""

    status: int
    message: str = "fake failure"
    error_type: str | None = None  # default: derived from the status, per vendor
    code: str | None = None  # openai only: `error.code`
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """Exactly these bytes, e.g. a proxy's HTML page on a 200."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Behaviour = Reply | Filtered | Refused | NoChoices | Fail | Raw


def context_length_fail(path: str) -> Fail:
    """The real 400 each vendor sends when the prompt exceeds the model's context."""
    if path == MESSAGES_PATH:
        return Fail(
            400,
            "prompt is too long: 215000 tokens > 200000 maximum",
            error_type="invalid_request_error",
        )
    return Fail(
        400,
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130512 tokens. Please reduce the length of the messages.",
        error_type="invalid_request_error",
        code="context_length_exceeded",
    )


class FakeLLMServer:
    """ThreadingHTTPServer on 127.0.0.1 with an ephemeral port, run in a daemon thread."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self._lock = threading.Lock()
        self.default = default  # for requests that find the script empty
        self._queue: deque[Behaviour] = deque()
        self._requests: list[Recorded] = []
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="fake-llm", daemon=True
        )

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a slow response
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- where clients point -------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the anthropic SDK appends /v1/messages itself

    # --- scripting and inspection --------------------------------------------------

    def script(self, *behaviours: Behaviour) -> FakeLLMServer:
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def reset_script(self, *behaviours: Behaviour) -> FakeLLMServer:
        """Drop what is left of the script and queue these instead."""
        with self._lock:
            self._queue.clear()
            self._queue.extend(behaviours)
        return self

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _take(self, recorded: Recorded) -> Behaviour | None:
        with self._lock:
            self._requests.append(recorded)
            return self._queue.popleft() if self._queue else self.default

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            behaviour = server._take(Recorded(self.path, headers, body))
            if self.path not in PATHS:
                self._send(404, _error_body(self.path, 404, "no such route", None, None), {})
                return
            if behaviour is None:
                msg = "fake llm server: no behaviour scripted for this request"
                self._send(500, _error_body(self.path, 500, msg, None, None), {})
                return
            status, payload, extra, delay, content_type = _render(self.path, behaviour, body)
            server._sleep(delay)
            if server._stopping.is_set():
                return
            try:
                self._send(status, payload, extra, content_type)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a timeout test)

        def _send(
            self,
            status: int,
            payload: bytes,
            extra: dict[str, str],
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


def _render(path: str, b: Behaviour, request: Any) -> tuple[int, bytes, dict[str, str], float, str]:
    """(status, body bytes, extra headers, delay, content type) of a behaviour on a path."""
    rid = (
        {"x-request-id": "req_fake123"} if path != MESSAGES_PATH else {"request-id": "req_fake123"}
    )
    if isinstance(b, Raw):
        return b.status, b.body, {**rid, **b.headers}, b.delay_s, b.content_type
    if isinstance(b, Fail):
        body = _error_body(path, b.status, b.message, b.error_type, b.code)
        return b.status, body, {**rid, **b.headers}, 0.0, "application/json"
    if isinstance(b, Reply):
        doc = _success(path, b)
        return 200, json.dumps(doc).encode(), rid, b.delay_s, "application/json"
    if isinstance(b, Filtered):
        doc = _filtered(path, b.model)
        return 200, json.dumps(doc).encode(), rid, 0.0, "application/json"
    if isinstance(b, Refused):
        doc = _refused(path, b.refusal)
        return 200, json.dumps(doc).encode(), rid, 0.0, "application/json"
    if isinstance(b, NoChoices):
        doc = {"id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED}
        doc |= {"model": "served-model-2025-01-01", "choices": []}
        return 200, json.dumps(doc).encode(), rid, 0.0, "application/json"
    raise TypeError(f"unknown behaviour {b!r}")


def _success(path: str, b: Reply) -> dict[str, Any]:
    if path == CHAT_PATH:
        doc: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": CREATED,
            "model": b.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": b.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
        }
        if b.usage:
            doc["usage"] = {
                "prompt_tokens": b.input_tokens,
                "completion_tokens": b.output_tokens,
                "total_tokens": b.input_tokens + b.output_tokens,
            }
        return doc
    if path == RESPONSES_PATH:
        doc = _response_doc(b.model, "completed", None)
        doc["output"] = [
            {
                "type": "message",
                "id": "msg_fake",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": b.text, "annotations": []}],
            }
        ]
        if b.usage:
            doc["usage"] = {
                "input_tokens": b.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": b.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": b.input_tokens + b.output_tokens,
            }
        return doc
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": b.model,
        "content": [{"type": "text", "text": b.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": b.input_tokens, "output_tokens": b.output_tokens},
    }


def _filtered(path: str, model: str) -> dict[str, Any]:
    if path == CHAT_PATH:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "content_filter",
                }
            ],
            "usage": {"prompt_tokens": 21, "completion_tokens": 0, "total_tokens": 21},
        }
    if path == RESPONSES_PATH:
        doc = _response_doc(model, "incomplete", {"reason": "content_filter"})
        doc["usage"] = {"input_tokens": 21, "output_tokens": 0, "total_tokens": 21}
        return doc
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 0},
    }


def _refused(path: str, refusal: str) -> dict[str, Any]:
    if path == CHAT_PATH:
        doc = _success(path, Reply(""))
        doc["choices"][0]["message"] |= {"content": None, "refusal": refusal}
        return doc
    if path == RESPONSES_PATH:
        doc = _success(path, Reply(""))
        doc["output"][0]["content"] = [{"type": "refusal", "refusal": refusal}]
        return doc
    return _filtered(path, "served-model-2025-01-01")


def _response_doc(model: str, status: str, incomplete: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {401: "invalid_request_error", 429: "requests"}


def _error_body(
    path: str, status: int, message: str, error_type: str | None, code: str | None
) -> bytes:
    if path == MESSAGES_PATH:
        etype = error_type or _ANTHROPIC_TYPES.get(status, "api_error")
        doc: dict[str, Any] = {
            "type": "error",
            "error": {"type": etype, "message": message},
            "request_id": "req_fake123",
        }
    else:
        default = "server_error" if status >= 500 else "invalid_request_error"
        etype = error_type or _OPENAI_TYPES.get(status, default)
        doc = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return json.dumps(doc).encode()
