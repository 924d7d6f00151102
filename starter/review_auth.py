"""Who is reviewing and what may be posted: token login, signed session cookies, login
rate limits, CSRF and origin checks, and the security headers of the review page.

A session cookie is `<payload>.<mac>`: base64url JSON {session id, reviewer, expiry, csrf
token, token fingerprint} signed with HMAC-SHA256. The session id names a row of the store
(activities/review_sessions.py) that the page checks on every request, so one session can
be revoked; the fingerprint ties a session to the reviewer's current token, so changing a
token in the settings ends that reviewer's sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "aiflow_review_session"
MIN_TOKEN_CHARS = 16  # a guessable token would make the whole page guessable
HASH_PREFIX = "sha256:"
SAFE_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")  # no backslash, no controls
MAX_IDENTITY_CHARS = 254  # an email address at most
# No script may run at all; styles only from this app; forms only post back here.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "referrer-policy": "same-origin",
    "cache-control": "no-store",  # pages hold customer data
    # the page uses no device feature; a page of another site opened from it gets no handle
    "permissions-policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
HSTS = "max-age=31536000"  # sent over https only: a plain-http page cannot set it anyway


@dataclass(frozen=True)
class Session:
    reviewer: str
    expires: int  # unix time
    csrf: str
    sid: str = ""  # the store row; "" in a cookie made before rows existed (refused)


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
        presented = hashlib.sha256(token.strip().encode(errors="replace")).digest()
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

    def new(self, reviewer: str, sid: str = "", expires: float | None = None) -> Session:
        """A new session (fresh CSRF token) for a reviewer."""
        end = int(self._clock()) + self.lifetime if expires is None else int(expires)
        return Session(reviewer=reviewer, expires=end, csrf=secrets.token_urlsafe(32), sid=sid)

    def cookie(self, session: Session) -> str:
        """The signed cookie value of a session."""
        body = {
            "sid": session.sid,
            "r": session.reviewer,
            "exp": session.expires,
            "csrf": session.csrf,
            "fp": self._fingerprint(session.reviewer),
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def issue(self, reviewer: str) -> str:
        """A new session for a reviewer, as the cookie value."""
        return self.cookie(self.new(reviewer))

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
            session = Session(
                reviewer=str(body["r"]),
                expires=int(body["exp"]),
                csrf=str(body["csrf"]),
                sid=str(body.get("sid", "")),
            )
            fingerprint = body["fp"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if session.expires <= self._clock() or session.reviewer not in self._digests:
            return None
        if not hmac.compare_digest(str(fingerprint), self._fingerprint(session.reviewer)):
            return None
        return session


def csrf_ok(session: Session, submitted: str | None) -> bool:
    if not submitted:
        return False
    return hmac.compare_digest(submitted.encode(errors="replace"), session.csrf.encode())


def same_origin(headers: Mapping[str, str], host: str) -> bool:
    """A state-changing request must say it comes from this page: its Origin (or, without
    one, its Referer) must name this host. Neither header: refused."""
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return False
    try:
        netloc = urlsplit(source).netloc
    except ValueError:  # "http://[::1" and the like: not this page
        return False
    return bool(host) and netloc.lower() == host.lower()


def local_path(target: str | None) -> str:
    """Where to go after login: a path on this site only (no open redirect)."""
    if target and SAFE_PATH.fullmatch(target) and not target.startswith("//"):
        return target
    return "/queue"


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every response that does not set its own, and
    Strict-Transport-Security when the request came over https."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if scope.get("scheme") == "https":
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


class SessionLoader:
    """ASGI middleware: resolves the request's session once, before the endpoint (the
    store read runs off the event loop), into `request.state.review_session`."""

    def __init__(self, app: ASGIApp, resolve: Callable[[Scope], Awaitable[Session | None]]):
        self.app = app
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["review_session"] = await self.resolve(scope)
        await self.app(scope, receive, send)


# --- login rate limits


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed in a sliding window, per bucket kind."""

    window_seconds: float
    per_account: int  # attempts naming one identity, from any address
    per_address: int  # attempts from one client address, named or not
    unnamed: int  # attempts naming no identity, from all addresses together


class FailureStore(Protocol):
    def failures(self, bucket: str, since: float, limit: int) -> list[float]: ...
    def fail(self, buckets: list[str], now: float, forget_before: float) -> None: ...


def identity_key(identity: str) -> str:
    """How an identity typed at login is compared and counted."""
    return identity.strip().casefold()[:MAX_IDENTITY_CHARS]


class LoginLimiter:
    """Counts failed logins in the store (so all replicas share them) and says how long a
    new attempt must wait. Buckets are the same for an identity that exists and one that
    does not, so a refusal tells nothing about who has an account."""

    def __init__(
        self,
        store: FailureStore,
        limits: LoginLimits,
        bucket_key: Callable[[str, str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits
        self._key = bucket_key
        self._clock = clock

    def buckets(self, address: str, identity: str) -> list[tuple[str, int]]:
        """(bucket, limit) that an attempt from `address` naming `identity` counts in."""
        out = [(self._key("address", address), self.limits.per_address)]
        if identity:
            out.append((self._key("account", identity_key(identity)), self.limits.per_account))
        else:
            out.append((self._key("unnamed", "*"), self.limits.unnamed))
        return out

    def retry_after(self, address: str, identity: str) -> int:
        """Seconds until an attempt may be tried (0: now). A full bucket frees up when
        the oldest of its last `limit` failures leaves the window."""
        now = self._clock()
        window = self.limits.window_seconds
        wait = 0.0
        for bucket, limit in self.buckets(address, identity):
            times = self.store.failures(bucket, now - window, limit)
            if len(times) >= limit:
                wait = max(wait, times[limit - 1] + window - now)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def failed(self, address: str, identity: str) -> None:
        now = self._clock()
        buckets = [b for b, _ in self.buckets(address, identity)]
        self.store.fail(buckets, now, now - self.limits.window_seconds)
