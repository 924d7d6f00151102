"""The review web page against real triage runs on the Temporal dev server: through httpx's
ASGI transport (login, sessions, CSRF, every decision, refusals, escaping), and once end to
end in headless Chromium (Debian's /usr/bin/chromium) clicking through a review."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser

import httpx
import pytest
from pydantic import SecretStr

from contracts import Outcome, ReviewAction, ReviewDecision
from starter import reviews
from starter.review_auth import Sessions, local_path
from starter.review_web import create_app, span
from starter.runs import workflow_id_for
from tests.conftest import running_worker
from tests.test_review_workflow import update_events
from tests.test_triage_workflow import start, ticket, wait_for_review

BASE = "http://review.test"
ANA_TOKEN = "ana-token-0123456789abcdef"
BEN_TOKEN = "ben-token-fedcba9876543210"
TOKENS = {  # ben's is configured as its hash
    "ana@example.com": SecretStr(ANA_TOKEN),
    "ben@example.com": SecretStr("sha256:" + hashlib.sha256(BEN_TOKEN.encode()).hexdigest()),
}
VIP = {"customer_tier": "vip"}  # rule vip-enterprise: always reviewed
HOSTILE = {
    "subject": "<img src=x onerror=alert(1)> refund",
    "body": "Please refund me. <script>alert('xss')</script> </textarea><b>bold</b>",
}


def web_settings(settings):
    return settings.model_copy(update={"review_tokens": TOKENS})


class Form(HTMLParser):
    """The values a browser would submit from a page's forms: inputs, selects, textareas."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a["value"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[a["name"]] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def browser(app) -> httpx.AsyncClient:
    """An httpx client that behaves like the page's own forms (Origin header, cookies)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"origin": BASE, "accept": "text/html"},
    )


@asynccontextmanager
async def logged_in(app, token: str = ANA_TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as http:
        r = await http.post("/login", data={"token": token, "next": "/queue"})
        assert (r.status_code, r.headers["location"]) == (303, "/queue")
        yield http


async def open_review(client, settings, **fields):
    raw = ticket(**VIP, **fields)
    handle = await start(client, settings, raw)
    await wait_for_review(handle)
    return handle, raw["ticket_id"]


async def review_form(http, tid: str) -> dict[str, str]:
    r = await http.get(f"/review/{tid}")
    assert r.status_code == 200
    return Form(r.text).values


async def test_login_sessions_and_unauthenticated_requests(env, settings):
    app = create_app(env.client, web_settings(settings))
    async with browser(app) as http:
        r = await http.get("/queue?x=1")
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=/queue%3Fx%3D1")
        r = await http.get("/queue", headers={"accept": "application/json"})
        assert r.status_code == 401
        r = await http.post("/review/T-1", data={"action": "approve"})
        assert r.status_code == 401
        r = await http.post("/login", data={"token": "ana-token-0123456789abcdeX"})
        assert (r.status_code, "set-cookie" in r.headers) == (401, False)
        assert "That token is not valid." in r.text
        r = await http.post("/login", data={"token": ANA_TOKEN}, headers={"origin": "http://evil"})
        assert (r.status_code, "set-cookie" in r.headers) == (403, False)
        r = await http.post("/login", data={"token": ANA_TOKEN, "next": "//evil.example/x"})
        assert (r.status_code, r.headers["location"]) == (303, "/queue")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("aiflow_review_session=")
        assert cookie.endswith("; HttpOnly; Max-Age=28800; Path=/; SameSite=strict")
        r = await http.get("/queue")
        assert r.status_code == 200
        assert "Signed in as <strong>ana@example.com</strong>" in r.text
        assert ANA_TOKEN not in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none';")
        http.cookies.set("aiflow_review_session", cookie.split(";")[0].split("=", 1)[1] + "x")
        assert (await http.get("/queue")).status_code == 303  # a tampered cookie
    async with logged_in(app, BEN_TOKEN) as http:  # a hashed token works too
        queue = (await http.get("/queue")).text
        assert "Signed in as <strong>ben@example.com</strong>" in queue
        assert (await http.post("/logout", data={})).status_code == 403  # no CSRF token
        r = await http.post("/logout", data={"csrf": Form(queue).values["csrf"]})
        assert (r.status_code, r.headers["location"]) == (303, "/login")
        assert (await http.get("/queue")).status_code == 303


def test_sessions_expire_and_end_when_the_token_changes():
    now = [1_000_000.0]
    sessions = Sessions(TOKENS, SecretStr("k" * 32), 60, clock=lambda: now[0])
    cookie = sessions.issue("ana@example.com")
    assert sessions.read(cookie).reviewer == "ana@example.com"
    rotated = Sessions({**TOKENS, "ana@example.com": SecretStr("x" * 20)}, SecretStr("k" * 32), 60)
    assert rotated.read(cookie) is None
    now[0] += 60
    assert sessions.read(cookie) is None
    assert sessions.identify(" " + BEN_TOKEN) == "ben@example.com"
    with pytest.raises(ValueError, match="^review token of 'eve' is shorter than 16 characters$"):
        Sessions({"eve": SecretStr("short")}, None, 60)


async def test_csrf_or_origin_missing_is_refused_and_nothing_reaches_the_run(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle, tid = await open_review(env.client, s)
        form = await review_form(http, tid)
        no_csrf = {k: v for k, v in form.items() if k != "csrf"} | {"action": "approve"}
        r1 = await http.post(f"/review/{tid}", data=no_csrf)
        r2 = await http.post(f"/review/{tid}", data=no_csrf | {"csrf": "forged"})
        foreign = {"origin": "http://evil.example"}
        r3 = await http.post(f"/review/{tid}", data=form | {"action": "approve"}, headers=foreign)
        no_origin = http.build_request("POST", f"/review/{tid}", data=form | {"action": "approve"})
        del no_origin.headers["origin"]
        r4 = await http.send(no_origin)
        assert [r.status_code for r in (r1, r2, r3, r4)] == [403, 403, 403, 403]
        assert "The form&#39;s security token is missing or wrong; reload it." in r1.text
        assert await update_events(handle) == []
        assert (await reviews.get(env.client, tid)).version == 1
        r = await http.post(f"/review/{tid}", data=form | {"action": "approve"})
        assert (r.status_code, (await handle.result()).outcome) == (200, Outcome.APPROVED)


async def test_a_stale_page_is_refused_with_the_form_kept(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle, tid = await open_review(env.client, s)
        stale = await review_form(http, tid)
        reassign = ReviewDecision(
            action=ReviewAction.REASSIGN, reviewer="ben@example.com", assignee="ben@example.com"
        )
        await reviews.decide(env.client, tid, reassign)
        edited = stale | {"action": "edit", "reply": stale["reply"] + "\r\nP.S. <b>sorry</b>"}
        r = await http.post(f"/review/{tid}", data=edited)
        assert r.status_code == 409
        assert "stale version 1: the review is at version 2 (it was reassigned" in r.text
        kept = Form(r.text).values
        assert (kept["version"], kept["reply"]) == ("1", stale["reply"] + "\nP.S. <b>sorry</b>")
        assert "P.S. &lt;b&gt;sorry&lt;/b&gt;" in r.text
        fresh = await review_form(http, tid)
        assert fresh["version"] == "2"
        r = await http.post(f"/review/{tid}", data=fresh | {"action": "edit", "reply": "Hi."})
        assert r.status_code == 200
        result = await handle.result()
    assert (result.outcome, result.reply) == (Outcome.EDITED, "Hi.")


async def test_approve_sends_the_proposal_and_refuses_silent_changes(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle, tid = await open_review(env.client, s)
        form = await review_form(http, tid)
        proposal = (await reviews.get(env.client, tid)).proposal
        changed = form | {"action": "approve", "category": "shipping"}
        r = await http.post(f"/review/{tid}", data=changed)
        assert r.status_code == 409
        assert "approve takes no corrected fields (category); use edit" in r.text
        r = await http.post(f"/review/{tid}", data=form | {"action": "approve", "note": "ok"})
        assert r.status_code == 200
        assert '<h1 class="ok">Approved</h1>' in r.text
        result = await handle.result()
    assert (result.outcome, result.reply, result.category) == (
        Outcome.APPROVED,
        proposal.reply,
        "billing",
    )


async def test_edit_is_idempotent_and_the_reviewer_comes_from_the_token(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app, BEN_TOKEN) as http:
        handle, tid = await open_review(env.client, s)
        form = await review_form(http, tid)
        reply = "Hello Maria,\r\n\r\nWe refunded the duplicate charge.\r\n\r\nBest regards"
        edit = form | {"action": "edit", "category": "shipping", "reply": reply}
        edit["reviewer"] = "mallory@example.com"  # ignored: identity is the token's
        first = await http.post(f"/review/{tid}", data=edit)
        result = await handle.result()
        again = await http.post(f"/review/{tid}", data=edit)  # the form sent twice
        updates = await update_events(handle)
    duplicate = '<p class="muted">This decision had already been recorded; nothing changed.</p>'
    assert duplicate in again.text and duplicate not in first.text
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.text.replace(duplicate, "") == first.text
    assert updates == [  # applied once: the second answer came from the first update
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
    ]
    assert (result.outcome, result.reply, result.category, result.priority) == (
        Outcome.EDITED,
        reply.replace("\r\n", "\n"),
        "shipping",
        "high",
    )
    review = result.steps[-2]
    assert (review.details["reviewer"], review.details["decision_id"]) == (
        "ben@example.com",
        form["decision_id"],
    )


async def test_reject_needs_a_reason_then_sends_nothing(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle, tid = await open_review(env.client, s)
        form = await review_form(http, tid)
        r = await http.post(f"/review/{tid}", data=form | {"action": "reject"})
        assert (r.status_code, "reject needs a reason" in r.text) == (409, True)
        r = await http.post(f"/review/{tid}", data=form | {"action": "reject", "reason": "spam"})
        assert (r.status_code, "Nothing will be sent to the customer." in r.text) == (200, True)
        result = await handle.result()
    assert (result.outcome, result.reply, result.category) == (Outcome.REJECTED, None, "billing")
    assert result.steps[-2].details["reviewer"] == "ana@example.com"


async def test_reassign_then_escalate_keep_the_review_open(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle, tid = await open_review(env.client, s)
        form = await review_form(http, tid)
        r = await http.post(
            f"/review/{tid}", data=form | {"action": "reassign", "assignee": "ben@example.com"}
        )
        assert (r.status_code, "now at version 2" in r.text) == (200, True)
        form = await review_form(http, tid)
        page = (await http.get(f"/review/{tid}")).text
        assert 'value="escalate"' in page
        r = await http.post(f"/review/{tid}", data=form | {"action": "escalate", "reason": "legal"})
        assert (r.status_code, "Escalated" in r.text, "now at version 3" in r.text) == (
            200,
            True,
            True,
        )
        page = (await http.get(f"/review/{tid}")).text
        req = await reviews.get(env.client, tid)
        await reviews.decide(
            env.client, tid, ReviewDecision(action=ReviewAction.APPROVE, reviewer="ben@example.com")
        )
        await handle.result()
    assert 'value="escalate"' not in page  # escalate once
    assert (req.version, req.assignee, req.escalated) == (3, "ben@example.com", True)
    assert [(e.kind, e.actor) for e in req.events] == [
        ("opened", "aiflow"),
        ("reassigned", "ana@example.com"),
        ("escalated", "ana@example.com"),
    ]


async def test_hostile_ticket_text_is_escaped(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        handle, tid = await open_review(env.client, s, **HOSTILE)
        detail = (await http.get(f"/review/{tid}")).text
        queue = await wait_listed(http, tid)
        await reviews.decide(
            env.client,
            tid,
            ReviewDecision(action=ReviewAction.REJECT, reviewer="ana@example.com", reason="test"),
        )
        await handle.result()
    for page in (detail, queue):
        assert "<script>" not in page and "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt; refund" in page
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; &lt;/textarea&gt;" in detail


async def wait_listed(http, tid: str, timeout: float = 10.0) -> str:
    """The queue page once it lists the ticket."""
    for _ in range(int(timeout / 0.2)):
        page = (await http.get("/queue")).text
        if f">{tid}</a>" in page:
            return page
        await asyncio.sleep(0.2)
    raise AssertionError(f"{tid} never appeared in the queue")


def queue_cells(page: str, tid: str) -> list[str]:
    [row] = re.findall(
        rf"<tr>\s*<td><input[^>]*>\s*</td>\s*<td class=\"nowrap\">"
        rf"<a href=\"/review/{tid}\">.*?</tr>",
        page,
        re.S,
    )
    return [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td.*?</td>", row, re.S)]


async def test_queue_rows_from_the_store_with_or_without_a_worker(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with logged_in(app) as http:
        async with running_worker(env.client, s):
            handle, tid = await open_review(env.client, s)
            page = await wait_listed(http, tid)
        idle = (await http.get("/queue")).text  # no worker: the store still lists it
        other_route = (await http.get("/queue?route=legal")).text
        by_reason = (await http.get("/queue?reason=rule:vip-enterprise&older=0s")).text
        async with running_worker(env.client, s):
            approve = ReviewDecision(action=ReviewAction.APPROVE, reviewer="ana@example.com")
            await reviews.decide(env.client, tid, approve)
            await handle.result()
        assert ">No reviews are waiting." in (await http.get("/queue")).text
    cells = queue_cells(page, tid)
    assert cells[:7] == [
        "",
        tid,
        "Charged twice for my subscription",
        "priority",
        "billing",
        "1.00",
        "rule:vip-enterprise",
    ]
    assert cells[8:] == ["23 h 59 min left", "—", "—"]
    assert re.fullmatch(r"\d+ s", cells[7])
    without_age = [c for i, c in enumerate(cells) if i != 7]
    assert [c for i, c in enumerate(queue_cells(idle, tid)) if i != 7] == without_age
    assert f">{tid}</a>" in by_reason
    assert f">{tid}</a>" not in other_route
    assert ">No reviews are waiting that match these filters." in other_route


def test_durations_and_redirect_targets():
    assert [span(s) for s in (0, 59, 60, 3599, 3600 + 125, -86400 - 7200)] == [
        "0 s",
        "59 s",
        "1 min",
        "59 min",
        "1 h 02 min",
        "1 d 2 h",
    ]
    assert [local_path(p) for p in ("/review/T-1?x=1", "//evil.example", "/\\evil", None)] == [
        "/review/T-1?x=1",
        "/queue",
        "/queue",
        "/queue",
    ]
    assert local_path("/\t/evil.example") == "/queue"


async def test_bulk_spam_and_reject_from_the_queue_page(env, settings):
    s = web_settings(settings)
    app = create_app(env.client, s)
    async with running_worker(env.client, s), logged_in(app) as http:
        opened = [await open_review(env.client, s) for _ in range(3)]
        (h1, t1), (h2, t2), (h3, t3) = opened
        page = await wait_listed(http, t3)
        form = Form(page).values
        runs = [workflow_id_for(t) for t in (t1, t2)]
        base = {"csrf": form["csrf"], "bulk_id": form["bulk_id"]}
        spam = await http.post("/bulk", data={**base, "action": "spam", "run": runs})
        again = await http.post("/bulk", data={**base, "action": "spam", "run": runs})
        empty = await http.post("/bulk", data={**base, "action": "spam"})
        forged = await http.post("/bulk", data={**base, "csrf": "x", "action": "spam", "run": runs})
        no_reason = await http.post(
            "/bulk", data={**base, "action": "reject", "run": [workflow_id_for(t3)]}
        )
        results = [await h.result() for h in (h1, h2)]
        await h3.terminate()
    assert spam.status_code == 200
    rows = re.findall(r"<tr><td class=\"nowrap\">(.*?)</td><td>(.*?)</td>", spam.text)
    assert sorted(rows) == sorted((r, "applied") for r in runs)
    assert "2 applied, 0 already applied, 0 refused, 0 not reached." in spam.text
    assert "0 applied, 2 already applied, 0 refused, 0 not reached." in again.text
    assert empty.status_code == 422
    assert forged.status_code == 403
    assert "0 applied, 0 already applied, 1 refused, 0 not reached." in no_reason.text
    assert "reject needs a reason" in no_reason.text
    assert [(r.outcome, r.route, r.reply) for r in results] == [(Outcome.CLOSED, "spam", None)] * 2
