"""The codec server (`aiflow codec serve`): Temporal's remote codec HTTP protocol over
aiflow's payload codec, so the Web UI and the `temporal` CLI show an operator decrypted
payloads, and nobody else.

    POST .../encode, POST .../decode   body and answer: temporal.api.common.v1.Payloads as
                                       proto3 JSON; only the last path segment counts
    GET /login, POST /login, /logout   a browser operator's session cookie

Who: `Authorization: Bearer <token>` (the CLI's `--codec-auth`), or, from a page of an
allowed UI origin only, the HttpOnly SameSite=Strict cookie that /login sets (the UI's
"include cross-origin credentials" codec setting sends it). Tokens are `codec_tokens`.
CORS headers go to the `codec_cors_origins` only. Bodies are bounded while they are read;
every refusal is a 4xx with a one-line JSON error. /decode answers a payload it cannot
open (key not loaded, tampered, blob gone) unchanged, with the reason (key ids only) in its
metadata under `aiflow-undecoded`, so one payload under a retired key does not hide a whole
history. Payload contents are never logged.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
import uvicorn
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from protection.codec import PayloadDecodeError
from settings import Settings
from starter.review_auth import Sessions
from starter.terminal import safe_text

log = structlog.get_logger("aiflow.codec_server")

# A history payload is at most 2 MiB (Temporal's limit), 2.7 MiB as base64 in JSON; the claim
# check keeps aiflow's far smaller. Past this a body is refused while it is being read.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_PAYLOADS = 1000  # in one request; the UI sends one event field's payloads at a time
MAX_LOGIN_BYTES = 4096
SESSION_SECONDS = 8 * 3600  # a browser login lasts a working day
LOGIN_FAILURES = 20  # per client address and LOGIN_WINDOW_SECONDS, then 429
LOGIN_WINDOW_SECONDS = 600
COOKIE = "aiflow_codec_session"
UNDECODED = "aiflow-undecoded"  # metadata key of a payload /decode answered unchanged
ALLOW_METHODS = "POST, OPTIONS"
ALLOW_HEADERS = "authorization, content-type, x-namespace"
PREFLIGHT_MAX_AGE = "600"
ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")  # scheme://host[:port], nothing after
BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")  # proto3 JSON takes standard or URL-safe
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",  # no-referrer would make a form POST's Origin "null"
}
COMMON_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


class Refused(Exception):
    """A request answered with `status` and a one-line JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def check_origins(origins: Sequence[str]) -> list[str]:
    """The configured UI origins, each `scheme://host[:port]`; ValueError names a bad one."""
    out = []
    for origin in origins:
        if not ORIGIN.fullmatch(origin):
            raise ValueError(
                f"AIFLOW_CODEC_CORS_ORIGINS: {safe_text(origin)!r} is not scheme://host[:port]"
            )
        out.append(origin.lower())
    return out


def operator_sessions(tokens: dict[str, SecretStr]) -> Sessions:
    """Token checks and signed session cookies for the codec operators (a fresh signing key
    per process: a restart ends browser logins). Errors name the operator, never a token."""
    try:
        return Sessions(tokens, None, SESSION_SECONDS)
    except ValueError as err:
        raise ValueError(f"AIFLOW_CODEC_TOKENS: {str(err).removeprefix('review ')}") from None


# --- the wire form


def _bytes(value: object, what: str) -> bytes:
    """Strict base64 (standard or URL-safe, padding optional): protobuf's own parser drops
    characters outside the alphabet, which would turn garbage into other bytes."""
    if not isinstance(value, str) or not BASE64.fullmatch(value):
        raise Refused(400, f"{what} is not base64")
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    if len(text) % 4 == 1:
        raise Refused(400, f"{what} is not base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, f"{what} is not base64") from None


def _payload(item: object, index: int) -> Payload:
    where = f"payload {index}"
    if not isinstance(item, dict):
        raise Refused(400, f"{where} is not an object")
    unknown = set(item) - {"metadata", "data", "externalPayloads"}
    if unknown:
        raise Refused(400, f"{where} has unknown fields (Payload has metadata, data)")
    metadata = item.get("metadata", {})
    if not isinstance(metadata, dict):
        raise Refused(400, f"{where}: metadata is not an object")
    payload = Payload(
        metadata={
            str(k): _bytes(v, f"{where}: metadata value {safe_text(k, 40)!r}")
            for k, v in metadata.items()
        },
        data=_bytes(item.get("data", ""), f"{where}: data"),
    )
    if "externalPayloads" in item:
        try:
            json_format.ParseDict({"externalPayloads": item["externalPayloads"]}, payload)
        except (json_format.ParseError, ValueError, TypeError, RecursionError):
            raise Refused(400, f"{where}: externalPayloads is not valid") from None
    return payload


def parse_payloads(body: bytes) -> list[Payload]:
    """The payloads of a request body; Refused(400) says what is wrong without echoing it."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "body is not JSON") from None
    if not isinstance(data, dict) or set(data) - {"payloads"}:
        raise Refused(400, 'body is not {"payloads": [...]} (temporal.api.common.v1.Payloads)')
    items = data.get("payloads", [])
    if not isinstance(items, list):
        raise Refused(400, "payloads is not a list")
    if len(items) > MAX_PAYLOADS:
        raise Refused(413, f"more than {MAX_PAYLOADS} payloads in one request")
    return [_payload(item, i) for i, item in enumerate(items)]


def payloads_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (Content-Length first)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Refused(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"body larger than {limit} bytes")
    return bytes(body)


# --- CORS


class Cors:
    """ASGI middleware: CORS for the configured UI origins only. Their preflights get the
    methods and headers the UI sends, with credentials; any other origin gets no CORS header
    (its preflight a 403)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app, self.origins = app, frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        allowed = origin is not None and origin.lower() in self.origins
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self.preflight(origin, allowed, headers)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["access-control-allow-origin"] = origin
                    out["access-control-allow-credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def preflight(self, origin: str, allowed: bool, headers: dict[str, str]) -> Response:
        if not allowed:
            log.warning("codec.cors_refused", origin=safe_text(origin))
            return error(403, "origin not allowed (AIFLOW_CODEC_CORS_ORIGINS)", {"vary": "Origin"})
        out = {
            "access-control-allow-origin": origin,
            "access-control-allow-credentials": "true",
            "access-control-allow-methods": ALLOW_METHODS,
            "access-control-allow-headers": ALLOW_HEADERS,
            "access-control-max-age": PREFLIGHT_MAX_AGE,
            "vary": "Origin",
        }
        if headers.get("access-control-request-private-network") == "true":
            out["access-control-allow-private-network"] = "true"  # a public UI, a local server
        return Response(status_code=204, headers=out)


class CommonHeaders:
    """ASGI middleware: no sniffing and no caching on every answer (they hold payloads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    out.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


# --- the endpoints


class CodecServer:
    """The endpoints, over one codec and one set of operators."""

    def __init__(
        self,
        codec: PayloadCodec,
        tokens: dict[str, SecretStr],
        origins: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self.sessions = operator_sessions(tokens)
        self.origins = frozenset(check_origins(origins))
        self.clock = clock
        self.failures: dict[str, deque[float]] = defaultdict(deque)

    def operator(self, request: Request) -> tuple[str | None, str]:
        """(who, how): a Bearer token wins, and a bad one is not rescued by a cookie; the
        cookie counts only on a request from a page of an allowed UI origin."""
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, "bearer"
            return self.sessions.identify(token), "bearer"
        cookie = request.cookies.get(COOKIE)
        if cookie is None:
            return None, "none"
        if request.headers.get("origin", "").lower() not in self.origins:
            return None, "cookie-foreign-origin"
        session = self.sessions.read(cookie)
        return (session.reviewer if session else None), "cookie"

    async def encode(self, request: Request) -> Response:
        return await self.apply(request, "encode")

    async def decode(self, request: Request) -> Response:
        return await self.apply(request, "decode")

    async def apply(self, request: Request, op: str) -> Response:
        if request.method == "OPTIONS":  # not a CORS preflight (Cors answers those)
            return Response(status_code=204, headers={"allow": ALLOW_METHODS})
        namespace = safe_text(request.headers.get("x-namespace", ""), 64)
        who, how = self.operator(request)
        if who is None:
            log.warning(
                "codec.denied", op=op, how=how, namespace=namespace, client=_client(request)
            )
            return error(
                401,
                "authentication required: Authorization: Bearer <token of AIFLOW_CODEC_TOKENS>, "
                "or log in at /login",
                {"www-authenticate": 'Bearer realm="aiflow codec"'},
            )
        try:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise Refused(415, "content-type must be application/json")
            payloads = parse_payloads(await read_bounded(request, MAX_REQUEST_BYTES))
            if op == "encode":
                out, undecoded = await self.encode_all(payloads), 0
            else:
                out, undecoded = await self.decode_all(payloads)
        except Refused as err:
            log.info("codec.refused", op=op, status=err.status, reason=err.message, operator=who)
            return error(err.status, err.message)
        log.info(
            "codec.request",
            op=op,
            operator=who,
            how=how,
            namespace=namespace,
            payloads=len(payloads),
            undecoded=undecoded,
        )
        return JSONResponse(payloads_json(out))

    async def encode_all(self, payloads: list[Payload]) -> list[Payload]:
        try:
            return await self.codec.encode(payloads)
        except Exception as err:  # the blob store, mostly; its messages may quote the data
            log.error("codec.encode_failed", error=type(err).__name__)
            raise Refused(503, f"cannot encode now ({type(err).__name__}); try again") from None

    async def decode_all(self, payloads: list[Payload]) -> tuple[list[Payload], int]:
        """Each payload decoded on its own: one that cannot be opened comes back unchanged,
        marked with the reason."""
        out, undecoded = [], 0
        for p in payloads:
            try:
                out.extend(await self.codec.decode([p]))
                continue
            except PayloadDecodeError as err:
                reason = str(err)
            except DecodeError:
                reason = "decrypted bytes are not a Payload"
            except Exception as err:  # e.g. the blob store unreachable; never the data
                reason = f"cannot decode now ({type(err).__name__})"
            log.warning("codec.undecoded", reason=reason)
            undecoded += 1
            marked = Payload()
            marked.CopyFrom(p)
            marked.metadata[UNDECODED] = reason.encode()
            out.append(marked)
        return out, undecoded

    # --- browser login

    def page(self, status: int, body: str) -> HTMLResponse:
        text = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>aiflow codec server</title></head><body><h1>aiflow codec server</h1>"
            f"{body}</body></html>"
        )
        return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)

    def login_page(self, status: int = 200, message: str = "") -> HTMLResponse:
        note = f"<p><strong>{html.escape(message)}</strong></p>" if message else ""
        return self.page(
            status,
            f"{note}<p>Log in to let the Temporal Web UI decode aiflow payloads in this "
            "browser.</p><form method=post action=/login>"
            "<label for=token>Operator token</label> <input id=token name=token type=password "
            "autocomplete=current-password required> <button type=submit>Log in</button></form>",
        )

    async def login_form(self, request: Request) -> Response:
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is not None:
            return self.signed_in(request, session.reviewer, session.expires)
        return self.login_page()

    def signed_in(self, request: Request, who: str, expires: int) -> HTMLResponse:
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
        endpoint = html.escape(str(request.base_url).rstrip("/"))
        return self.page(
            200,
            f"<p>Logged in as <strong>{html.escape(who)}</strong> until {until}.</p>"
            "<p>In the Temporal Web UI, open the <em>Codec Server</em> settings, choose this "
            f"browser's setting, endpoint <code>{endpoint}</code>, and tick "
            "<em>Include cross-origin credentials</em>.</p>"
            "<form method=post action=/logout><button type=submit>Log out</button></form>",
        )

    def limited(self, address: str) -> bool:
        window = self.failures[address]
        while window and window[0] < self.clock() - LOGIN_WINDOW_SECONDS:
            window.popleft()
        return len(window) >= LOGIN_FAILURES

    async def login(self, request: Request) -> Response:
        if not _same_origin(request):
            return self.page(403, "<p>Refused: this form posts only from this page.</p>")
        address = _client(request)
        if self.limited(address):
            log.warning("codec.login_limited", client=address)
            page = self.login_page(429, "Too many failed log-ins; try again in a few minutes.")
            page.headers["retry-after"] = str(LOGIN_WINDOW_SECONDS)
            return page
        try:
            body = await read_bounded(request, MAX_LOGIN_BYTES)
        except Refused as err:
            return self.login_page(err.status, err.message)
        token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
        who = self.sessions.identify(token) if token else None
        if who is None:
            self.failures[address].append(self.clock())
            log.warning("codec.login_refused", client=address)
            return self.login_page(401, "That token is not an operator's (AIFLOW_CODEC_TOKENS).")
        log.info("codec.login", operator=who, client=address)
        response = self.signed_in(request, who, int(self.clock()) + SESSION_SECONDS)
        response.set_cookie(
            COOKIE,
            self.sessions.issue(who),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        if not _same_origin(request):
            return self.page(403, "<p>Refused: this form posts only from this page.</p>")
        response = self.login_page(200, "Logged out.")
        response.delete_cookie(
            COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host", "")
    return bool(source) and urlsplit(source).netloc.lower() == host.lower()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    text = {404: "no such endpoint (POST .../encode or .../decode)", 405: "method not allowed"}
    if status == 500:
        log.error("codec.bug", error=type(exc).__name__)
    return error(status, text.get(status, "internal error" if status == 500 else "refused"))


def create_app(
    codec: PayloadCodec,
    tokens: dict[str, SecretStr],
    origins: Sequence[str],
) -> Starlette:
    """The codec server's ASGI app. ValueError for unusable tokens or origins."""
    if not tokens:
        raise ValueError("no operator can authenticate: set AIFLOW_CODEC_TOKENS")
    server = CodecServer(codec, tokens, origins)
    codec_methods = ["POST", "OPTIONS"]
    routes = [
        Route("/", server.login_form, methods=["GET"]),
        Route("/login", server.login_form, methods=["GET"]),
        Route("/login", server.login, methods=["POST"]),
        Route("/logout", server.logout, methods=["POST"]),
        Route("/encode", server.encode, methods=codec_methods),
        Route("/decode", server.decode, methods=codec_methods),
        # the protocol: only the last path segment names the operation
        Route("/{prefix:path}/encode", server.encode, methods=codec_methods),
        Route("/{prefix:path}/decode", server.decode, methods=codec_methods),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error, Exception: _http_error}
    )
    app.add_middleware(Cors, origins=server.origins)
    app.add_middleware(CommonHeaders)
    return app


def build_server(
    settings: Settings,
    codec: PayloadCodec,
    host: str | None = None,
    port: int | None = None,
) -> uvicorn.Server:
    """The codec server under uvicorn (port 0: an ephemeral one; `bound_port` tells which)."""
    config = uvicorn.Config(
        create_app(codec, settings.codec_tokens, settings.codec_cors_origins),
        host=host or settings.codec_host,
        port=settings.codec_port if port is None else port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through aiflow's pipeline
        proxy_headers=True,  # X-Forwarded-Proto from a local TLS proxy marks cookies Secure
        server_header=False,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]
