"""Who is reviewing and what may be posted: token login, signed session cookies, CSRF and
origin checks, and the security headers of the review page.

A session cookie is `<payload>.<mac>`: base64url JSON {reviewer, expiry, csrf token, token
fingerprint} signed with HMAC-SHA256. The fingerprint ties a session to the reviewer's
current token, so changing a token in the settings ends that reviewer's sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "aiflow_review_session"
MIN_TOKEN_CHARS = 16  # a guessable token would make the whole page guessable
HASH_PREFIX = "sha256:"
SAFE_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")  # no backslash, no controls
# No script may run at all; styles only from this app; forms only post back here.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",  # pages hold customer data
}


@dataclass(frozen=True)
class Session:
    reviewer: str
    expires: int  # unix time
    csrf: str


def token_digest(who: str, value: SecretStr) -> bytes:
    """The SHA-256 of a configured token, given plain or as `sha256:<hex>`. Errors name the
    reviewer, never the token."""
    raw = value.get_secret_value()
    if raw.startswith(HASH_PREFIX):
        try:
            digest = bytes.fromhex(raw.removeprefix(HASH_PREFIX))
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ValueError(f"review token of {who!r}: sha256: needs 64 hex digits")
        return digest
    if len(raw) < MIN_TOKEN_CHARS:
        raise ValueError(f"review token of {who!r} is shorter than {MIN_TOKEN_CHARS} characters")
    return hashlib.sha256(raw.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Token checks and session cookies for one app (one signing key)."""

    def __init__(
        self,
        tokens: dict[str, SecretStr],
        secret: SecretStr | None,
        lifetime_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._digests = {who: token_digest(who, value) for who, value in tokens.items()}
        self._key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
        self.lifetime = int(lifetime_seconds)
        self._clock = clock

    def identify(self, token: str) -> str | None:
        """The reviewer whose token this is. Compares fixed-length digests in constant time
        and always against every reviewer, so timing tells nothing about near misses."""
        presented = hashlib.sha256(token.strip().encode()).digest()
        found = None
        for who, digest in self._digests.items():
            if hmac.compare_digest(presented, digest):
                found = who
        return found

    def _fingerprint(self, reviewer: str) -> str:
        digest = self._digests.get(reviewer, b"")
        return hmac.new(self._key, b"fp:" + digest, hashlib.sha256).hexdigest()[:16]

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, reviewer: str) -> str:
        """A new session (fresh CSRF token) for a reviewer, as the cookie value."""
        body = {
            "r": reviewer,
            "exp": int(self._clock()) + self.lifetime,
            "csrf": secrets.token_urlsafe(32),
            "fp": self._fingerprint(reviewer),
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged, expired or its
        reviewer's token changed."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(reviewer=body["r"], expires=int(body["exp"]), csrf=body["csrf"])
            fingerprint = body["fp"]
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= self._clock() or session.reviewer not in self._digests:
            return None
        if not hmac.compare_digest(str(fingerprint), self._fingerprint(session.reviewer)):
            return None
        return session


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(submitted.encode(), session.csrf.encode())


def same_origin(headers: Mapping[str, str], host: str) -> bool:
    """A state-changing request must say it comes from this page: its Origin (or, without
    one, its Referer) must name this host. Neither header: refused."""
    source = headers.get("origin") or headers.get("referer")
    return bool(source) and urlsplit(source).netloc.lower() == host.lower()


def local_path(target: str | None) -> str:
    """Where to go after login: a path on this site only (no open redirect)."""
    if target and SAFE_PATH.fullmatch(target) and not target.startswith("//"):
        return target
    return "/queue"


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)
