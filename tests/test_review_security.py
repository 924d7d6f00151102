"""The review page's defences against the real app and a real store (SQLite, and the session
table on PostgreSQL too): login rate limits per account, per address and for unnamed
attempts; server-side sessions listed and revoked one by one; security headers and cookie
flags; and a seeded fuzz of every form with hostile input, where each answer must be the
status the page's rules give for that input (a clear 4xx or the normal page, never a 500).

`hypothesis` is not installed, so the fuzz draws its cases from a seeded `random.Random`:
the same cases every run, and a failure names the case's seed and index."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from activities.review_sessions import LoginFailureRow, ReviewSessions, bucket_key
from activities.store import Store
from starter.review_auth import Session, Sessions
from starter.review_web import create_app
from tests.test_review_web import ANA_TOKEN, BEN_TOKEN, TOKENS

BASE = "http://review.test"
SECRET = SecretStr("review-signing-secret-0123456789abcdef")
WRONG = "wrong-token-0123456789abcdef"
T0 = 1_800_000_000.0
HEADERS = {  # pinned here, not imported: a change to them must change this test
    "content-security-policy": "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "permissions-policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


class Clock:
    """The page's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def page_settings(settings, **overrides):
    values = {"review_tokens": TOKENS, "review_session_secret": SECRET}
    return settings.model_copy(update=values | overrides)


def client(app, address: str = "10.0.0.1", base: str = BASE, **headers) -> httpx.AsyncClient:
    """A browser at `address` whose forms post back to the page (Origin header, cookies)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url=base,
        headers={"origin": base, "accept": "text/html"} | headers,
    )


@asynccontextmanager
async def logged_in(app, token=ANA_TOKEN, address="10.0.0.1", **headers) -> AsyncIterator:
    async with client(app, address, **headers) as http:
        r = await http.post("/login", data={"token": token, "next": "/sessions"})
        assert (r.status_code, r.headers["location"]) == (303, "/sessions")
        yield http


def cookie_of(r: httpx.Response) -> str:
    return r.headers["set-cookie"].split(";")[0].split("=", 1)[1]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def session_rows(page: str) -> list[list[str]]:
    body = page.split('<table class="queue" id="sessions">')[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>\s*(<td.*?)</tr>", body.split("<tbody>")[1], re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    text = [[re.sub(r"<[^>]+>", " ", c) for c in row] for row in cells]
    return [[re.sub(r"\s+", " ", c).strip() for c in row] for row in text]


def failures(url: str, scope: str, key: str) -> int:
    store = Store(url)
    try:
        return len(ReviewSessions(store.engine).failures(bucket_key(scope, key), 0, 10_000))
    finally:
        store.close()


def records(url: str, reviewer: str):
    store = Store(url)
    try:
        return ReviewSessions(store.engine).of_reviewer(reviewer)
    finally:
        store.close()


# --- headers and cookies


async def test_security_headers_on_every_kind_of_response(env, settings):
    app = create_app(env.client, page_settings(settings))
    async with client(app) as http:
        responses = [
            await http.get("/login"),
            await http.get("/queue"),
            await http.post("/login", data={"token": WRONG}),
            await http.post("/login", data={"token": ANA_TOKEN}, headers={"origin": "http://x"}),
            await http.get("/no-such-page"),
        ]
        r = await http.post("/login", data={"token": ANA_TOKEN, "next": "/sessions"})
        responses.append(await http.get("/sessions"))
        css = await http.get("/review.css")
    assert [r.status_code for r in responses] == [200, 303, 401, 403, 404, 200]
    for r in responses:
        assert {k: r.headers.get(k) for k in HEADERS} == HEADERS
        assert "strict-transport-security" not in r.headers  # plain http cannot pin https
    assert css.headers["cache-control"] == "max-age=300"  # the stylesheet may be cached
    assert {k: css.headers[k] for k in HEADERS if k != "cache-control"} == {
        k: v for k, v in HEADERS.items() if k != "cache-control"
    }
    async with client(app, base="https://review.test") as https:
        r = await https.get("/login")
    assert r.headers["strict-transport-security"] == "max-age=31536000"


async def test_cookie_flags_over_http_https_and_a_trusted_proxy(env, settings):
    tail = "; HttpOnly; Max-Age=28800; Path=/; SameSite=strict"
    s = page_settings(settings, review_trusted_proxies=["10.9.0.1"])
    app = create_app(env.client, s)
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
    cookies = {}
    for name, address, base, headers in [
        ("http", "10.0.0.1", BASE, {}),
        ("https", "10.0.0.1", "https://review.test", {}),
        ("trusted proxy", "10.9.0.1", BASE, forwarded),
        ("untrusted peer", "10.9.0.2", BASE, forwarded),
    ]:
        async with client(app, address, base, **headers) as http:
            r = await http.post("/login", data={"token": ANA_TOKEN})
            assert r.status_code == 303
            cookies[name] = r.headers["set-cookie"].removeprefix(
                f"aiflow_review_session={cookie_of(r)}"
            )
            if name == "https":
                r = await http.post(
                    "/logout", data={"csrf": csrf_of((await http.get("/sessions")).text)}
                )
                logout = r.headers["set-cookie"]
    assert cookies == {
        "http": tail,
        "https": tail + "; Secure",
        "trusted proxy": tail + "; Secure",
        "untrusted peer": tail,
    }
    assert re.fullmatch(
        r'aiflow_review_session=""; expires=[^;]+; HttpOnly; Max-Age=0; Path=/; '
        r"SameSite=strict; Secure",
        logout,
    )
    addresses = [r.client_address for r in reversed(records(s.store_url, "ana@example.com"))]
    assert addresses == ["10.0.0.1", "10.0.0.1", "203.0.113.7", "10.9.0.2"]
    always = create_app(env.client, page_settings(settings, review_cookie_secure=True))
    async with client(always) as http:
        r = await http.post("/login", data={"token": ANA_TOKEN})
    assert r.headers["set-cookie"].endswith(tail + "; Secure")


# --- login rate limits


async def named_failures(app, identity: str, clock: Clock, n: int) -> list[int]:
    """n wrong tokens naming `identity`, each from its own address, 10 s apart."""
    out = []
    for i in range(n):
        async with client(app, f"10.1.{len(identity)}.{i}") as http:
            r = await http.post("/login", data={"token": WRONG, "identity": identity})
            out.append(r.status_code)
        clock.now += 10
    return out


async def test_failed_logins_per_account_then_429_alike_for_unknown_accounts(env, settings):
    clock = Clock()
    s = page_settings(settings)
    app = create_app(env.client, s, clock)
    answers = {}
    for identity in ("ana@example.com", "nobody@example.com"):
        start = clock.now
        assert await named_failures(app, identity, clock, 5) == [401] * 5
        async with client(app, "10.1.99.1") as http:  # a fresh address, the right token
            r = await http.post("/login", data={"token": ANA_TOKEN, "identity": identity})
        assert r.headers["retry-after"] == str(int(start + 900 - clock.now))
        answers[identity] = (r.status_code, r.headers["retry-after"], "set-cookie" in r.headers)
        answers[identity] += (r.text.replace(identity, "<who>"),)
    assert answers["ana@example.com"] == answers["nobody@example.com"]  # nothing told apart
    status, retry_after, cookie, page = answers["ana@example.com"]
    assert (status, retry_after, cookie) == (429, "850", False)
    assert "Too many failed log-in attempts. Try again in 14 min.</p>" in page
    assert failures(s.store_url, "account", "ana@example.com") == 5  # the 429 did not count
    async with client(app, "10.1.99.2") as http:
        case_and_space = await http.post(
            "/login", data={"token": ANA_TOKEN, "identity": " ANA@example.com"}
        )
        unnamed = await http.post("/login", data={"token": ANA_TOKEN})
    assert (case_and_space.status_code, unnamed.status_code) == (429, 303)
    clock.now = T0 + 900.5  # ana's first failure has left the window
    async with client(app, "10.1.99.3") as http:
        r = await http.post("/login", data={"token": ANA_TOKEN, "identity": "ana@example.com"})
    assert r.status_code == 303


async def test_a_real_token_of_another_reviewer_is_a_failure_of_the_named_account(env, settings):
    s = page_settings(settings)
    app = create_app(env.client, s)
    async with client(app) as http:
        r = await http.post("/login", data={"token": BEN_TOKEN, "identity": "ana@example.com"})
        ok = await http.post("/login", data={"token": BEN_TOKEN, "identity": "Ben@Example.com"})
    assert (r.status_code, "That token is not valid." in r.text, ok.status_code) == (401, True, 303)
    assert failures(s.store_url, "account", "ana@example.com") == 1
    assert failures(s.store_url, "account", "ben@example.com") == 0


async def test_failed_logins_per_address_and_behind_a_trusted_proxy(env, settings):
    clock = Clock()
    s = page_settings(settings, review_trusted_proxies=["10.9.0.1"])
    app = create_app(env.client, s, clock)
    async with client(app, "10.2.0.1") as http:
        statuses = []
        for i in range(20):
            identity = f"guess{i}@example.com" if i % 2 else ""  # named or not: one address
            r = await http.post("/login", data={"token": WRONG, "identity": identity})
            statuses.append(r.status_code)
            clock.now += 1
        locked = await http.post("/login", data={"token": ANA_TOKEN})
    assert statuses == [401] * 20
    assert (locked.status_code, locked.headers["retry-after"]) == (429, "880")
    assert failures(s.store_url, "address", "10.2.0.1") == 20
    async with client(app, "10.2.0.2") as http:
        assert (await http.post("/login", data={"token": ANA_TOKEN})).status_code == 303
    proxy = "10.9.0.1"
    for _ in range(20):
        async with client(app, proxy, **{"x-forwarded-for": f"198.51.100.1, {proxy}"}) as http:
            assert (await http.post("/login", data={"token": WRONG})).status_code == 401
    async with client(app, proxy, **{"x-forwarded-for": "198.51.100.1"}) as http:
        same_client = await http.post("/login", data={"token": ANA_TOKEN})
    async with client(app, proxy, **{"x-forwarded-for": "198.51.100.2"}) as http:
        other_client = await http.post("/login", data={"token": ANA_TOKEN})
    assert (same_client.status_code, other_client.status_code) == (429, 303)
    assert failures(s.store_url, "address", proxy) == 0
    for i in range(20):  # an untrusted peer's X-Forwarded-For is ignored
        async with client(app, "10.2.0.3", **{"x-forwarded-for": f"192.0.2.{i}"}) as http:
            assert (await http.post("/login", data={"token": WRONG})).status_code == 401
    async with client(app, "10.2.0.3", **{"x-forwarded-for": "192.0.2.200"}) as http:
        assert (await http.post("/login", data={"token": ANA_TOKEN})).status_code == 429


async def test_unnamed_failures_from_everywhere_then_naming_yourself_still_works(env, settings):
    clock = Clock()
    s = page_settings(settings, review_login_max_failures_unnamed=12)
    app = create_app(env.client, s, clock)
    for i in range(12):
        async with client(app, f"10.3.0.{i % 4}") as http:
            assert (await http.post("/login", data={"token": WRONG})).status_code == 401
    async with client(app, "10.3.1.1") as http:
        unnamed = await http.post("/login", data={"token": ANA_TOKEN})
        named = await http.post("/login", data={"token": ANA_TOKEN, "identity": "ana@example.com"})
    assert (unnamed.status_code, unnamed.headers["retry-after"], named.status_code) == (
        429,
        "900",
        303,
    )
    assert (
        "Too many failed log-in attempts. Try again in 15 min. Entering your reviewer identity "
        "with the token may let you in sooner.</p>"
    ) in unnamed.text
    assert failures(s.store_url, "unnamed", "*") == 12


async def test_replicas_share_failures_and_revocations_through_the_store(env, settings):
    clock = Clock()
    s = page_settings(settings, review_login_max_failures_per_account=2)
    one, two = create_app(env.client, s, clock), create_app(env.client, s, clock)
    for app in (one, two):
        async with client(app) as http:
            r = await http.post("/login", data={"token": WRONG, "identity": "ana@example.com"})
            assert r.status_code == 401
    async with client(one, "10.4.0.1") as http:
        r = await http.post("/login", data={"token": ANA_TOKEN, "identity": "ana@example.com"})
    assert r.status_code == 429
    async with logged_in(one, BEN_TOKEN) as ben_one, logged_in(two, BEN_TOKEN) as ben_two:
        page = (await ben_two.get("/sessions")).text
        assert len(session_rows(page)) == 2  # a login on either replica, listed on both
        mine = sid_of(cookie_of_client(ben_one))
        r = await ben_two.post("/sessions/revoke", data={"csrf": csrf_of(page), "session": mine})
        assert (r.status_code, r.headers["location"]) == (303, "/sessions")
        assert (await ben_one.get("/sessions")).status_code == 303  # refused on replica one
        assert (await ben_two.get("/sessions")).status_code == 200


def cookie_of_client(http: httpx.AsyncClient) -> str:
    return http.cookies["aiflow_review_session"]


def sid_of(cookie: str) -> str:
    return Sessions(TOKENS, SECRET, 60).read(cookie).sid


# --- sessions, listed and revoked one by one


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, settings):
    """The page's settings on SQLite (the test's own file) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return page_settings(settings)
    return page_settings(settings, database_url=request.getfixturevalue("fresh_pg_url"))


async def test_sessions_are_listed_and_revoked_one_by_one(env, any_store):
    s = any_store
    clock = Clock()
    app = create_app(env.client, s, clock)
    laptop = {"user-agent": "Laptop-Browser/1.0"}
    phone = {"user-agent": "Phone\x00Browser/2.0 " + "x" * 300}
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(logged_in(app, address="10.5.0.1", **laptop))
        clock.now += 1
        b = await stack.enter_async_context(logged_in(app, address="10.5.0.2", **phone))
        clock.now += 1
        ben = await stack.enter_async_context(logged_in(app, BEN_TOKEN, address="10.5.0.3"))
        sid_a, sid_b = sid_of(cookie_of_client(a)), sid_of(cookie_of_client(b))
        page = (await a.get("/sessions")).text
        assert session_rows(page) == [
            [
                sid_b[:8],
                "2027-01-15 08:00",
                "2027-01-15 08:00",
                "2027-01-15 16:00",
                "10.5.0.2",
                "PhoneBrowser/2.0 " + "x" * 183,
                "Revoke",
            ],
            [
                f"{sid_a[:8]} this one",
                "2027-01-15 08:00",
                "2027-01-15 08:00",
                "2027-01-15 16:00",
                "10.5.0.1",
                "Laptop-Browser/1.0",
                "Revoke (log out)",
            ],
        ]
        assert "Signed in as <strong>ana@example.com</strong>" in page
        assert '<a class="who" href="/sessions" title="Your sessions">' in page
        csrf = csrf_of(page)
        [ben_sid] = [r.id for r in records(s.store_url, "ben@example.com")]
        refused = [
            await a.post("/sessions/revoke", data={"session": sid_b}),
            await a.post("/sessions/revoke", data={"csrf": "forged", "session": sid_b}),
            await a.post(
                "/sessions/revoke",
                data={"csrf": csrf, "session": sid_b},
                headers={"origin": "http://evil.example"},
            ),
            await a.post("/sessions/revoke", data={"csrf": csrf, "session": ben_sid}),
            await a.post("/sessions/revoke", data={"csrf": csrf, "session": "f" * 32}),
        ]
        assert [r.status_code for r in refused] == [403, 403, 403, 404, 404]
        assert "No such active session of yours; it may have ended already." in refused[3].text
        assert (await ben.get("/sessions")).status_code == 200  # ben's was not touched
        clock.now += 61  # past TOUCH_SECONDS: this request writes "last seen"
        r = await a.post("/sessions/revoke", data={"csrf": csrf, "session": sid_b})
        assert (r.status_code, r.headers["location"]) == (303, "/sessions")
        assert (await b.get("/sessions")).status_code == 303  # the phone is logged out
        r = await b.post("/logout", data={"csrf": csrf_of(page)})
        assert r.status_code == 401
        again = await a.post("/sessions/revoke", data={"csrf": csrf, "session": sid_b})
        assert again.status_code == 404
        page = (await a.get("/sessions")).text
        assert [row[0] + " | " + row[-1] for row in session_rows(page)] == [
            f"{sid_b[:8]} | revoked 2027-01-15 08:01",
            f"{sid_a[:8]} this one | Revoke (log out)",
        ]
        kept = cookie_of_client(a)
        r = await a.post("/sessions/revoke", data={"csrf": csrf, "session": sid_a})
        assert (r.status_code, r.headers["location"]) == (303, "/login")
        assert r.headers["set-cookie"].startswith('aiflow_review_session=""; expires=')
        ben_cookie = cookie_of_client(ben)
        r = await ben.post("/logout", data={"csrf": csrf_of((await ben.get("/sessions")).text)})
        assert (r.status_code, r.headers["location"]) == (303, "/login")
    for cookie in (kept, ben_cookie):  # a revoked session's cookie, kept and replayed
        async with client(app) as http:
            http.cookies.set("aiflow_review_session", cookie)
            r = await http.get("/sessions")
            assert (r.status_code, r.headers["location"]) == (303, "/login?next=/sessions")
    rows = {r.id: r for r in records(s.store_url, "ana@example.com")}
    assert (rows[sid_a].last_seen_at, rows[sid_a].revoked_at) == (T0 + 63, T0 + 63)
    assert (rows[sid_b].last_seen_at, rows[sid_b].revoked_at) == (T0 + 1, T0 + 63)
    [ben_row] = records(s.store_url, "ben@example.com")
    assert (ben_row.last_seen_at, ben_row.revoked_at) == (T0 + 63, T0 + 63)


async def test_unknown_expired_and_token_changed_sessions_are_refused(env, settings):
    clock = Clock()
    s = page_settings(settings)
    app = create_app(env.client, s, clock)
    signer = Sessions(TOKENS, SECRET, 28800, clock)
    forged = [
        signer.issue("ana@example.com"),  # signed, but no store row (no session id)
        signer.cookie(signer.new("ana@example.com", sid="f" * 32)),  # signed, unknown id
    ]
    async with logged_in(app) as http:
        real = cookie_of_client(http)
        sid = sid_of(real)
        forged.append(signer.cookie(Session("ben@example.com", int(T0) + 60, "x", sid)))
    for cookie in forged:
        async with client(app) as http:
            http.cookies.set("aiflow_review_session", cookie)
            assert (await http.get("/sessions")).status_code == 303
    rotated = {**TOKENS, "ana@example.com": SecretStr("a-brand-new-token-0123456789")}
    after_rotation = create_app(env.client, page_settings(settings, review_tokens=rotated), clock)
    for app_, moved, expected in [(after_rotation, 0, 303), (app, 28799, 200), (app, 1, 303)]:
        clock.now += moved
        async with client(app_) as http:
            http.cookies.set("aiflow_review_session", real)
            assert (await http.get("/sessions")).status_code == expected


# --- the session table itself, on SQLite and PostgreSQL


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    return request.getfixturevalue("fresh_pg_url")


def test_session_rows_create_touch_revoke_list_and_prune(store_url):
    store = Store(store_url)
    try:
        table = ReviewSessions(store.engine)
        old = table.create("ana@example.com", T0 - 8 * 86400, 3600, "10.0.0.1", "Old/1")
        a = table.create("ana@example.com", T0, 3600, "10.0.0.1\x00" + "9" * 80, "A\x1b[31m/1")
        b = table.create("ana@example.com", T0 + 1, 3600, "10.0.0.2", "\x00" * 5 + "é" * 300)
        c = table.create("ben@example.com", T0 + 2, 3600, "10.0.0.3", "")
        assert table.get(old.id) is None  # created before the newer ones pruned it
        assert (a.client_address, a.user_agent) == ("10.0.0.1" + "9" * 56, "A[31m/1")
        assert (len(a.id), b.user_agent) == (32, "é" * 200)
        table.touch(a.id, T0 + 100)
        assert (table.revoke(a.id, "ben@example.com", T0 + 5), table.get(a.id).revoked_at) == (
            False,
            None,
        )
        assert table.revoke(a.id, "ana@example.com", T0 + 200) is True
        assert table.revoke(a.id, "ana@example.com", T0 + 300) is False  # revoked once
        assert table.revoke("nope", "ana@example.com", T0) is False
        assert [
            (r.id, r.last_seen_at, r.revoked_at) for r in table.of_reviewer("ana@example.com")
        ] == [
            (b.id, T0 + 1, None),
            (a.id, T0 + 100, T0 + 200),
        ]
        assert [r.active(T0 + 3601) for r in (table.get(b.id), table.get(c.id))] == [False, True]
        assert table.get("x" * 500) is None
    finally:
        store.close()


def test_failure_rows_slide_out_of_the_window(store_url):
    store = Store(store_url)
    try:
        table = ReviewSessions(store.engine)
        one, two = bucket_key("address", "10.0.0.1"), bucket_key("account", "ana@example.com")
        for i in range(6):
            table.fail([one, two] if i % 2 else [one], T0 + i, forget_before=T0 - 900)
        assert table.failures(one, T0 - 1, 4) == [T0 + 5, T0 + 4, T0 + 3, T0 + 2]
        assert table.failures(two, T0 + 1, 10) == [T0 + 5, T0 + 3]
        table.fail([two], T0 + 1000, forget_before=T0 + 2.5)  # prunes what is older
        assert table.failures(one, 0, 10) == [T0 + 5, T0 + 4, T0 + 3]
        assert table.failures(two, 0, 10) == [T0 + 1000, T0 + 5, T0 + 3]
        assert len(bucket_key("account", "\x00" * 10_000)) == 64
        assert LoginFailureRow.__tablename__ == "review_login_failures"
    finally:
        store.close()


# --- fuzz: every form with hostile input


SEED = 20261207
CASES = 480
FORMS = ["/login", "/logout", "/sessions/revoke", "/bulk", "/review/T-fuzz-1", "/fields/run-1"]
FIELD_NAMES = ["token", "identity", "next", "session", "action", "run", "review_id", "version"]
FIELD_NAMES += ["decision_id", "reply", "reason", "note", "category", "priority", "assignee"]
FIELD_NAMES += ["bulk_id", "field:amount", "x" * 300, "", "csrf[]", "\x00"]
NASTY = [
    "",
    " ",
    "\x00",
    "\x00" * 64,
    "\r\n\r\n",
    "\x1b[2J",
    "\u202eevil",
    "\ud7ff\ufffd\uffff",
    "😀" * 50,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00%ff",
    "../../etc/passwd",
    "//evil.example/x",
    "/\\evil",
    "d-" + "0" * 32,
    "approve",
    "reject",
    "spam",
    "1",
    "-1",
    "99999999999999999999999",
    "ana@example.com",
]
MAX_FIELDS = {"/sessions/revoke": 8, "/bulk": 508}
MAX_BYTES = {"/bulk": 96 * 1024}


@dataclass
class Case:
    path: str
    cookie: str
    origin: str
    body: str
    csrf: str
    fields: list[tuple[str, str]] = field(default_factory=list)


def nasty(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(NASTY)
    if kind == 1:  # overlong, under the body limit
        return rng.choice("aZ\x00é<") * rng.choice([300, 5_000, 20_000])
    if kind == 2:
        return "".join(chr(rng.randrange(0, 0x250)) for _ in range(rng.randrange(1, 40)))
    if kind == 3:
        return "".join(chr(rng.randrange(0x80, 0x100)) for _ in range(rng.randrange(1, 40)))
    return rng.choice(NASTY) + "".join(chr(rng.randrange(32, 127)) for _ in range(20))


def draw(rng: random.Random) -> Case:
    path = rng.choice(FORMS)
    case = Case(
        path=path,
        cookie=rng.choice(["none", "valid", "valid", "valid", "tampered", "junk", "other_key"]),
        origin=rng.choice(["same"] * 5 + ["referer", "foreign", "missing", "null", "bad_url"]),
        body=rng.choice(
            ["urlencoded"] * 4
            + ["raw_bytes", "multipart", "multipart", "multipart_file", "multipart_broken"]
            + ["json", "text", "no_type", "oversize", "chunked", "bad_length", "many_fields"]
        ),
        csrf=rng.choice(
            ["valid"] * 4 + ["missing", "forged", "empty", "twice_last", "twice_first"]
        ),
    )
    for _ in range(rng.randrange(0, 8)):
        case.fields.append((rng.choice(FIELD_NAMES), nasty(rng)))
    if path == "/login" and rng.random() < 0.3:
        who = rng.choice(["", "ana@example.com", " ANA@EXAMPLE.COM ", "ben@example.com"])
        case.fields += [("token", ANA_TOKEN), ("identity", who)]
    if path == "/bulk" and rng.random() < 0.3:
        case.fields += [("action", "spam"), ("bulk_id", "d-" + "a" * 32), ("run", nasty(rng))]
    if path.startswith("/review/") and rng.random() < 0.4:
        case.fields += [("action", "approve"), ("version", "1"), ("decision_id", "d-" + "b" * 32)]
    return case


def form_fields(case: Case, csrf: str) -> list[tuple[str, str]]:
    pairs = [(k, v) for k, v in case.fields if k != "csrf"]
    if case.csrf == "valid":
        pairs.append(("csrf", csrf))
    elif case.csrf == "forged":
        pairs.append(("csrf", csrf[:-1] + ("B" if csrf.endswith("A") else "A")))
    elif case.csrf == "empty":
        pairs.append(("csrf", ""))
    elif case.csrf == "twice_last":
        pairs += [("csrf", "forged"), ("csrf", csrf)]
    elif case.csrf == "twice_first":
        pairs += [("csrf", csrf), ("csrf", "forged")]
    if case.body == "many_fields":
        pairs = [("f", "1")] * 600 + pairs
    return pairs


def encode(case: Case, pairs: list[tuple[str, str]]) -> tuple[dict, bytes]:
    """The request body and its content headers, as the case says to send them."""
    urlencoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()
    form = {"content-type": "application/x-www-form-urlencoded"}
    if case.body in ("urlencoded", "many_fields", "bad_length", "chunked"):
        return form, urlencoded
    if case.body == "raw_bytes":  # undecodable bytes, unescaped and escaped
        return form, b"token=\xff\xfe\x00\xc3(&identity=%ff%c3%28&" + urlencoded
    if case.body == "oversize":
        return form, urlencoded + b"&pad=" + b"a" * (MAX_BYTES.get(case.path, 64 * 1024) + 1)
    if case.body.startswith("multipart"):
        parts = [
            b'--B\r\nContent-Disposition: form-data; name="'
            + k.encode("utf-8", "replace").replace(b'"', b"%22").replace(b"\r\n", b" ")
            + b'"\r\n\r\n'
            + v.encode("utf-8", "replace")
            + b"\r\n"
            for k, v in pairs
            if k
        ]
        if case.body == "multipart_file":
            parts.append(
                b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
                b"Content-Type: text/plain\r\n\r\nhello\r\n"
            )
        body = b"".join(parts) + b"--B--\r\n"
        if case.body == "multipart_broken":
            body = b"--B\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--B--\r\n"
        return {"content-type": "multipart/form-data; boundary=B"}, body
    if case.body == "json":
        return {"content-type": "application/json"}, b'{"token": "' + ANA_TOKEN.encode() + b'"}'
    if case.body == "text":
        return {"content-type": "text/plain; charset=utf-8"}, urlencoded
    return {}, urlencoded  # no_type


def sent_fields(case: Case, named: list[tuple[str, str]]) -> dict[str, str]:
    """The fields the page reads back (the last of repeated ones), as its parser decodes
    what `encode` sent: escapes as UTF-8 (bad bytes replaced), raw bytes as Latin-1."""
    raw = [("token", "\xff\xfe\x00\xc3("), ("identity", "\ufffd\ufffd(")]
    got = dict((raw if case.body == "raw_bytes" else []) + named)
    return {k: v.replace("\r\n", "\n") for k, v in got.items()}


def expected(case: Case, pairs: list[tuple[str, str]], csrf: str, size: int) -> int:
    """What the page's rules answer: refusals in the order the page checks them."""
    if case.path != "/login" and case.cookie != "valid":
        return 401
    if case.origin not in ("same", "referer"):
        return 403
    if case.body in ("chunked", "bad_length") or size > MAX_BYTES.get(case.path, 64 * 1024):
        return 413
    if case.body in ("multipart_file", "multipart_broken"):
        return 400
    typed = case.body in ("urlencoded", "raw_bytes", "many_fields", "multipart")
    named = [(k, v) for k, v in pairs if k or not case.body.startswith("multipart")]
    count = len(named) + (2 if case.body == "raw_bytes" else 0)
    if typed and count > MAX_FIELDS.get(case.path, 32):
        return 400
    got = sent_fields(case, named) if typed else {}
    if case.path != "/login" and got.get("csrf") != csrf:
        return 403
    if case.path == "/login":
        identity = got.get("identity", "").strip().casefold()
        ok = got.get("token", "").strip() == ANA_TOKEN and identity in ("", "ana@example.com")
        return 303 if ok else 401
    if case.path in ("/logout", "/fields/run-1"):
        return {"/logout": 303, "/fields/run-1": 404}[case.path]
    if case.path == "/sessions/revoke":
        return 404
    if case.path == "/bulk":
        good = got.get("action") in ("spam", "approve", "reject", "reassign")
        runs = [v for k, v in named if k == "run"]
        return (
            200
            if good and re.fullmatch(r"d-[0-9a-f]{32}", got.get("bulk_id", "")) and runs
            else 422
        )
    good = got.get("action") in ("approve", "edit", "reject", "spam", "reassign", "escalate")
    good = good and re.fullmatch(r"[0-9]{1,9}", got.get("version", "")) is not None
    good = good and re.fullmatch(r"d-[0-9a-f]{32}", got.get("decision_id", "")) is not None
    return 404 if good else 422


async def test_fuzzed_forms_get_the_answer_the_rules_give_never_a_500(env, settings):
    s = page_settings(
        settings,
        review_login_max_failures_per_account=100_000,
        review_login_max_failures_per_address=100_000,
        review_login_max_failures_unnamed=100_000,
    )
    app = create_app(env.client, s)
    other_key = Sessions(TOKENS, SecretStr("another-secret-0123456789abcdef"), 60)
    rng = random.Random(SEED)
    seen: dict[int, int] = {}
    for index in range(CASES):
        case = draw(rng)
        async with client(app, f"10.7.{index // 200}.{index % 200}") as http:
            csrf, cookie = "", None
            if case.cookie == "valid":
                r = await http.post("/login", data={"token": ANA_TOKEN, "next": "/sessions"})
                csrf = csrf_of((await http.get("/sessions")).text)
                cookie = cookie_of(r)
            elif case.cookie == "tampered":
                async with logged_in(app) as other:
                    cookie = cookie_of_client(other)[:-2] + "AA"
            elif case.cookie == "junk":
                cookie = rng.choice(["", ".", "a.b.c", "x" * 4000, "é.é", "=" * 20])
            elif case.cookie == "other_key":
                cookie = other_key.issue("ana@example.com")
            http.cookies.clear()
            pairs = form_fields(case, csrf)
            headers, body = encode(case, pairs)
            if cookie is not None:
                headers["cookie"] = f"aiflow_review_session={cookie}".encode("latin-1")
            origin = {
                "same": {"origin": BASE},
                "referer": {"referer": BASE + "/queue"},
                "foreign": {"origin": "http://evil.example"},
                "null": {"origin": "null"},
                "bad_url": {"origin": "http://[::1"},
                "missing": {},
            }[case.origin]
            if case.body == "bad_length":
                lengths = ["", "-1", "1e3", " 12", "0x10", "\xb2"]
                headers["content-length"] = rng.choice(lengths).encode("latin-1")
            request = http.build_request("POST", case.path, content=body, headers=headers)
            del request.headers["origin"]
            request.headers.update(origin)
            if case.body == "chunked":
                del request.headers["content-length"]
            response = await http.send(request)
            want = expected(case, pairs, csrf, len(body))
            assert response.status_code == want, (SEED, index, case.path, case.body, case)
            if want != 303:
                assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["x-frame-options"] == "DENY"
            seen[want] = seen.get(want, 0) + 1
    assert sorted(seen) == [200, 303, 400, 401, 403, 404, 413, 422]  # every rule was hit
    assert sum(seen.values()) == CASES
