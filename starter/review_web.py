"""The review web page: the queue, one review beside the AI proposal, approve / edit /
reject / spam, and bulk decisions over the queue. A small server-rendered Starlette app
over `starter.reviews`, with no JavaScript.

The queue comes from the store's reviews table (one query, filtered by route, reason,
assignee and age, most urgent SLA first); a bulk decision is one validated update per run,
each with its own receipt, listed on the result page.

Reviewers log in with their token (settings `review_tokens`); the identity recorded with a
decision is the token's, never a form field's. Failed logins are rate-limited per account,
per address and for unnamed attempts; each login is a store row that /sessions lists and
revokes (starter/review_auth.py). Every POST needs the session's CSRF token
and a same-origin Origin/Referer. Decisions carry the review id and version the page showed
(a stale page is refused by the run) and a decision id made when the page was rendered
(a form sent twice is answered once).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import structlog
import uvicorn
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Scope
from temporalio.client import Client
from temporalio.service import RPCError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from activities.review_sessions import ReviewSessions, bucket_key
from activities.review_store import QueueFilter
from activities.store import Store
from contracts import CATEGORIES, PRIORITIES, ReviewAction, ReviewDecision, ReviewRequest
from decisions import sensitive
from deployment import connect, workflow_specs
from settings import Settings
from starter import reviews
from starter.review_auth import (
    COOKIE,
    MAX_IDENTITY_CHARS,
    LoginLimiter,
    LoginLimits,
    SecurityHeaders,
    Session,
    SessionLoader,
    Sessions,
    csrf_ok,
    local_path,
    same_origin,
)
from starter.review_web_fields import FieldReviewPages
from starter.reviews import NoSuchReview, ReviewRefused

log = structlog.get_logger("aiflow.review_web")

TEMPLATES = Path(__file__).resolve().parent / "templates" / "review"
FORM_ACTIONS = {a.value: a for a in ReviewAction}
FORM_FIELDS = ("review_id", "version", "decision_id", "category", "priority", "reply", "reason")
FORM_FIELDS += ("assignee",)
# Suggested reason codes (free text; the run requires one only to reject)
REASON_CODES = ["tone", "wrong_category", "wrong_priority", "factual_error", "policy"]
REASON_CODES += ["duplicate", "spam", "not_actionable"]
DECISION_ID = re.compile(r"d-[0-9a-f]{32}")  # what reviews.new_decision_id() makes
SESSION_ID = re.compile(r"[0-9a-f]{32}")  # what ReviewSessions.create makes
DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: "²".isdigit(), but int("²") fails
MAX_FORM_BYTES = 64 * 1024  # a reply is at most 5,000 characters
QUEUE_PAGE = 500  # reviews one queue page shows (and one bulk decision takes)
BULK_ACTIONS = {a.value: a for a in (ReviewAction.APPROVE, ReviewAction.SPAM)}
BULK_ACTIONS |= {a.value: a for a in (ReviewAction.REJECT, ReviewAction.REASSIGN)}
MAX_BULK_FORM_BYTES = 96 * 1024  # QUEUE_PAGE workflow ids
TOUCH_SECONDS = 60.0  # a session's "last seen" is written at most this often
LOGIN_REFUSED = "That token is not valid."  # the same words whoever was named
Denied = Response  # what a guard returns instead of letting the request through


def masked_text(value: object) -> str:
    return sensitive.mask(value if isinstance(value, str) else str(value))


def span(seconds: float) -> str:
    """A duration for people: 42 s, 7 min, 3 h 05 min, 2 d 4 h."""
    s = int(abs(seconds))
    if s < 3600:
        return f"{s} s" if s < 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def review_href(ticket_id: str) -> str:
    return "/review/" + quote(ticket_id, safe="")


def field(form: FormData, name: str) -> str:
    """A text field as typed (browsers send textarea line breaks as CRLF)."""
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


class ReviewPage(FieldReviewPages):
    """The page's endpoints, bound to one Temporal client and one settings object."""

    def __init__(
        self, client: Client, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.store = Store(settings.store_url)
        self.store.create_schema()  # a page may be up before the first worker made it
        self.task_queue = settings.orchestration_queue
        self.specs = workflow_specs(settings)
        self.clock = clock
        self.sessions = Sessions(
            settings.review_tokens,
            settings.review_session_secret,
            settings.review_session_seconds,
            clock,
        )
        self.logins = ReviewSessions(self.store.engine)
        limits = LoginLimits(
            window_seconds=settings.review_login_window_seconds,
            per_account=settings.review_login_max_failures_per_account,
            per_address=settings.review_login_max_failures_per_address,
            unnamed=settings.review_login_max_failures_unnamed,
        )
        self.limiter = LoginLimiter(self.logins, limits, bucket_key, clock)
        self.cookie_secure = settings.review_cookie_secure
        self.jinja = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined
        )
        # card numbers, IBANs and secrets a customer wrote are shown masked (PCI DSS 3.3)
        self.jinja.filters |= {"span": span, "review_href": review_href, "masked": masked_text}
        self.jinja.globals |= {"categories": CATEGORIES, "priorities": PRIORITIES}
        self.jinja.globals |= {"reason_codes": REASON_CODES, "reviewer": None, "csrf": ""}
        self.css = (TEMPLATES / "review.css").read_text()

    # --- plumbing

    def render(
        self, name: str, status: int = 200, session: Session | None = None, **context: object
    ) -> HTMLResponse:
        if session is not None:  # the header shows who is signed in, with a log-out form
            context |= {"reviewer": session.reviewer, "csrf": session.csrf}
        html = self.jinja.get_template(name).render(now=datetime.now(UTC), **context)
        return HTMLResponse(html, status_code=status)

    def message(self, status: int, title: str, text: str, session: Session | None) -> Response:
        return self.render("message.html", status, session, title=title, message=text)

    def no_review(self, ticket_id: str, session: Session) -> Response:
        text = f"No review is pending for ticket {ticket_id}."
        return self.message(404, "No pending review", text, session)

    async def resolve(self, scope: Scope) -> Session | None:
        """The session a request's cookie names, if its signature, its token fingerprint
        and its store row (not revoked, not expired, same reviewer) all hold."""
        session = self.sessions.read(Request(scope).cookies.get(COOKIE))
        if session is None or not session.sid:
            return None
        row = await asyncio.to_thread(self.logins.get, session.sid)
        now = self.clock()
        if row is None or not row.active(now) or row.reviewer != session.reviewer:
            return None
        if now - row.last_seen_at >= TOUCH_SECONDS:
            await asyncio.to_thread(self.logins.touch, row.id, now)
        return session

    def signed_in(self, request: Request) -> Session | Denied:
        """The request's session; else a browser asking for a page is sent to the login
        and anything else gets 401 (the login page)."""
        session = getattr(request.state, "review_session", None)
        if session is not None:
            return session
        query = f"?{request.url.query}" if request.url.query else ""
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = quote(local_path(request.url.path + query))
            return RedirectResponse(f"/login?next={target}", status_code=303)
        text = "Log in first: your session is missing or has expired."
        return self.render("login.html", 401, message=text, next="/queue", identity="")

    async def posted(
        self,
        request: Request,
        session: Session | None,
        max_fields: int = 32,
        max_bytes: int = MAX_FORM_BYTES,
    ) -> FormData | Denied:
        """A POSTed form from this page: 403 when the Origin/Referer is foreign or, for a
        signed-in reviewer, the CSRF token is missing or wrong."""
        if not same_origin(request.headers, request.headers.get("host", "")):
            return self.forbidden("This form did not come from this page (Origin/Referer).")
        length = request.headers.get("content-length", "")
        if not DIGITS.fullmatch(length) or int(length) > max_bytes:  # browsers always send it
            return self.message(413, "Too large", "The form is too large or unsized.", session)
        form = await request.form(max_files=0, max_fields=max_fields)
        if session is not None and not csrf_ok(session, field(form, "csrf")):
            return self.forbidden("The form's security token is missing or wrong; reload it.")
        return form

    def forbidden(self, reason: str) -> Response:
        log.warning("review_web.forbidden", reason=reason)
        return self.message(403, "Forbidden", reason, None)

    # --- endpoints

    async def stylesheet(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css", headers={"cache-control": "max-age=300"})

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)

    async def login_form(self, request: Request) -> Response:
        target = local_path(request.query_params.get("next"))
        return self.render("login.html", message=None, next=target, identity="")

    def secure(self, request: Request) -> bool:
        """Whether cookies get Secure: set by the setting, else when the request came over
        https (directly, or as a trusted proxy's X-Forwarded-Proto says)."""
        return (
            self.cookie_secure if self.cookie_secure is not None else request.url.scheme == "https"
        )

    async def login(self, request: Request) -> Response:
        """A token, and optionally the identity it should belong to. Failures are counted
        per address and per named identity (or, unnamed, all together); a full bucket
        answers 429 before the token is even looked at."""
        form = await self.posted(request, None)
        if isinstance(form, Denied):
            return form
        target = local_path(field(form, "next"))
        identity = field(form, "identity").strip()[:MAX_IDENTITY_CHARS]
        address = client_address(request)
        wait = await asyncio.to_thread(self.limiter.retry_after, address, identity)
        if wait:
            log.warning("review_web.login_limited", client=address, retry_after=wait)
            text = f"Too many failed log-in attempts. Try again in {span(wait)}."
            if not identity:
                text += " Entering your reviewer identity with the token may let you in sooner."
            page = self.render("login.html", 429, message=text, next=target, identity=identity)
            page.headers["retry-after"] = str(wait)
            return page
        reviewer = self.sessions.identify(field(form, "token"))
        if reviewer is not None and identity and identity.casefold() != reviewer.casefold():
            reviewer = None  # a real token, but not of the reviewer named
        if reviewer is None:
            await asyncio.to_thread(self.limiter.failed, address, identity)
            log.warning("review_web.login_refused", client=address, named=bool(identity))
            return self.render(
                "login.html", 401, message=LOGIN_REFUSED, next=target, identity=identity
            )
        agent = request.headers.get("user-agent", "")
        row = await asyncio.to_thread(
            self.logins.create, reviewer, self.clock(), self.sessions.lifetime, address, agent
        )
        log.info("review_web.login", reviewer=reviewer, session=row.id[:8], client=address)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            self.sessions.cookie(self.sessions.new(reviewer, row.id, row.expires_at)),
            max_age=self.sessions.lifetime,
            httponly=True,
            samesite="strict",
            secure=self.secure(request),
        )
        return response

    def logged_out(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            COOKIE, httponly=True, samesite="strict", secure=self.secure(request)
        )
        return response

    async def logout(self, request: Request) -> Response:
        """Ends this session: its row is revoked, so the cookie is dead even if kept."""
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        form = await self.posted(request, session)
        if isinstance(form, Denied):
            return form
        await asyncio.to_thread(self.logins.revoke, session.sid, session.reviewer, self.clock())
        log.info("review_web.logout", reviewer=session.reviewer, session=session.sid[:8])
        return self.logged_out(request)

    async def session_list(self, request: Request) -> Response:
        """The signed-in reviewer's own sessions, the current one marked."""
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        rows = await asyncio.to_thread(self.logins.of_reviewer, session.reviewer)
        now = self.clock()
        shown = [
            {
                "id": r.id,
                "current": r.id == session.sid,
                "active": r.active(now),
                "created": datetime.fromtimestamp(r.created_at, UTC),
                "last_seen": datetime.fromtimestamp(r.last_seen_at, UTC),
                "expires": datetime.fromtimestamp(r.expires_at, UTC),
                "revoked": datetime.fromtimestamp(r.revoked_at, UTC) if r.revoked_at else None,
                "address": r.client_address,
                "agent": r.user_agent,
            }
            for r in rows
        ]
        return self.render("sessions.html", 200, session, sessions=shown)

    async def session_revoke(self, request: Request) -> Response:
        """Revoke one of the reviewer's sessions; revoking the current one logs out."""
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        form = await self.posted(request, session, max_fields=8)
        if isinstance(form, Denied):
            return form
        target = field(form, "session")
        done = SESSION_ID.fullmatch(target) is not None and await asyncio.to_thread(
            self.logins.revoke, target, session.reviewer, self.clock()
        )
        if not done:
            text = "No such active session of yours; it may have ended already."
            return self.message(404, "No such session", text, session)
        log.info("review_web.session_revoked", reviewer=session.reviewer, session=target[:8])
        if target == session.sid:
            return self.logged_out(request)
        return RedirectResponse("/sessions", status_code=303)

    async def queue(self, request: Request) -> Response:
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        q = request.query_params
        shown = {k: q.get(k, "").strip()[:64] for k in ("route", "reason", "assignee", "older")}
        age = reviews.parse_age(shown["older"]) if shown["older"] else None
        f = QueueFilter(
            route=shown["route"] or None,
            reason=shown["reason"] or None,
            assignee=shown["assignee"] or None,
            older_than=age,
            limit=QUEUE_PAGE + 1,
        )
        now = datetime.now(UTC)
        rows = await asyncio.to_thread(self.store.pending_queue, f, now, full=True)
        pending = [ReviewRequest.model_validate(r.request) for r in rows[:QUEUE_PAGE]]
        fields, silent = await self.field_queue()
        return self.render(
            "queue.html",
            200,
            session,
            pending=pending,
            more=len(rows) > QUEUE_PAGE,
            filters=shown,
            bulk_id=reviews.new_decision_id(),
            fields=fields,
            silent=silent,
        )

    async def bulk(self, request: Request) -> Response:
        """One decision per ticked run, each its own update and receipt."""
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        form = await self.posted(request, session, QUEUE_PAGE + 8, MAX_BULK_FORM_BYTES)
        if isinstance(form, Denied):
            return form
        action = BULK_ACTIONS.get(field(form, "action"))
        bulk_id = field(form, "bulk_id")
        runs = list(dict.fromkeys(str(v) for v in form.getlist("run")))[:QUEUE_PAGE]
        if not (action and DECISION_ID.fullmatch(bulk_id) and runs):
            text = "Tick at least one review and choose what to do with them."
            return self.message(422, "Nothing to do", text, session)
        base = ReviewDecision(
            action=action,
            reviewer=session.reviewer,
            reason=field(form, "reason").strip()[:128] or None,
            assignee=(field(form, "assignee").strip()[:128] or None)
            if action == ReviewAction.REASSIGN
            else None,
        )
        found = await reviews.decide_many(self.client, runs, base, bulk_id)
        results = [(r.workflow_id, r.status, r.detail) for r in found]
        counts = dict.fromkeys(reviews.BULK_STATUSES, 0)
        for _, status, _ in results:
            counts[status] += 1
        log.info(
            "review_web.bulk",
            reviewer=session.reviewer,
            action=action.value,
            **{k.replace(" ", "_"): v for k, v in counts.items()},
        )
        return self.render(
            "bulk.html", 200, session, action=action.value, results=results, counts=counts
        )

    async def detail(self, request: Request) -> Response:
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        ticket_id = request.path_params["ticket_id"]
        try:
            req = await reviews.get(self.client, ticket_id)
        except NoSuchReview:
            return self.no_review(ticket_id, session)
        p = req.proposal
        form = {"review_id": req.review_id, "version": req.version, "reason": "", "note": ""}
        form["assignee"] = ""
        form |= {"category": p.category or "", "priority": p.priority or "", "reply": p.reply or ""}
        form["decision_id"] = reviews.new_decision_id()  # made now: a resent form is a duplicate
        return self.render("detail.html", 200, session, req=req, form=form, refusal=None)

    async def submit(self, request: Request) -> Response:
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        form = await self.posted(request, session)
        if isinstance(form, Denied):
            return form
        ticket_id = request.path_params["ticket_id"]
        sent = {name: field(form, name) for name in (*FORM_FIELDS, "note")}
        action = FORM_ACTIONS.get(field(form, "action"))
        if not (
            action
            and DIGITS.fullmatch(sent["version"])
            and DECISION_ID.fullmatch(sent["decision_id"])
        ):
            text = "The form is incomplete; reload the review."
            return self.message(422, "Bad form", text, session)
        decision = ReviewDecision(
            action=action,
            reviewer=session.reviewer,  # from the token, never from the form
            decision_id=sent["decision_id"],
            review_id=sent["review_id"] or None,
            version=int(sent["version"]),
            reason=sent["reason"].strip() or None,
            note=sent["note"].strip() or None,
            assignee=sent["assignee"].strip() or None if action == ReviewAction.REASSIGN else None,
            **await self.corrections(ticket_id, action, sent),
        )
        try:
            receipt = await reviews.decide(self.client, ticket_id, decision)
        except ReviewRefused as refused:
            why = str(refused)
            log.info("review_web.refused", ticket_id=ticket_id, reviewer=session.reviewer, why=why)
            try:
                req = await reviews.get(self.client, ticket_id)
            except NoSuchReview:
                return self.message(409, "Refused", why, session)
            return self.render("detail.html", 409, session, req=req, form=sent, refusal=why)
        except NoSuchReview:
            return self.no_review(ticket_id, session)
        except reviews.NoWorker:  # nothing was applied; going back keeps the form
            why = "No worker answered, so the decision was not applied. Go back and send it again."
            return self.message(503, "No worker", why, session)
        log.info(
            "review_web.decided",
            ticket_id=ticket_id,
            reviewer=session.reviewer,
            action=action.value,
            decision_id=receipt.decision_id,
            duplicate=receipt.duplicate,
        )
        return self.render("done.html", 200, session, ticket_id=ticket_id, receipt=receipt)

    async def corrections(self, ticket_id: str, action: ReviewAction, sent: dict) -> dict:
        """The corrected fields a decision carries. An edit sends all three (the run
        refuses one that changes nothing); an approve sends only what the reviewer changed,
        so the run refuses it rather than the changes being dropped silently."""
        fields = {k: sent[k] or None for k in ("category", "priority")} | {"reply": sent["reply"]}
        if action == ReviewAction.EDIT:
            return fields
        if action in (ReviewAction.REJECT, ReviewAction.SPAM):
            return {}
        try:
            shown = (await reviews.get(self.client, ticket_id)).proposal.model_dump()
        except NoSuchReview:  # decided already: the run answers a resent decision
            return {}
        return {k: v for k, v in fields.items() if (v or "").strip() != (shown[k] or "").strip()}

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (no such page, wrong method, a malformed form) as pages."""
        assert isinstance(exc, HTTPException)
        page = self.message(exc.status_code, "Refused", str(exc.detail), None)
        page.headers.update(exc.headers or {})
        return page

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        log.error("review_web.temporal_error", error=str(exc))
        text = "The Temporal service did not answer; try again shortly."
        return self.message(503, "Temporal unavailable", text, None)


def client_address(request: Request) -> str:
    """The address the rate limits count: the ASGI client's, which ProxyHeadersMiddleware
    replaced with X-Forwarded-For only when the peer is one of review_trusted_proxies."""
    return request.client.host if request.client else "unknown"


def create_app(
    client: Client, settings: Settings, clock: Callable[[], float] = time.time
) -> Starlette:
    """The review page as an ASGI app (tests drive it through httpx's ASGI transport)."""
    page = ReviewPage(client, settings, clock)
    routes = [
        Route("/", page.home),
        Route("/review.css", page.stylesheet),
        Route("/login", page.login_form, methods=["GET"]),
        Route("/login", page.login, methods=["POST"]),
        Route("/logout", page.logout, methods=["POST"]),
        Route("/sessions", page.session_list, methods=["GET"]),
        Route("/sessions/revoke", page.session_revoke, methods=["POST"]),
        Route("/queue", page.queue),
        Route("/bulk", page.bulk, methods=["POST"]),
        Route("/review/{ticket_id:path}", page.detail, methods=["GET"]),
        Route("/review/{ticket_id:path}", page.submit, methods=["POST"]),
        Route("/fields/{run_id:path}", page.field_detail, methods=["GET"]),
        Route("/fields/{run_id:path}", page.field_submit, methods=["POST"]),
    ]
    handlers = {RPCError: page.unavailable, HTTPException: page.http_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_middleware(SessionLoader, resolve=page.resolve)
    app.add_middleware(SecurityHeaders)
    if settings.review_trusted_proxies:  # outermost: the others see the real client
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.review_trusted_proxies)
    return app


def build_server(
    settings: Settings, client: Client, host: str | None = None, port: int | None = None
) -> uvicorn.Server:
    """The page under uvicorn (port 0: an ephemeral one; `bound_port` tells which)."""
    config = uvicorn.Config(
        create_app(client, settings),
        host=host or settings.review_web_host,
        port=settings.review_web_port if port is None else port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through aiflow's pipeline (JSON, redaction)
        proxy_headers=False,  # the app trusts X-Forwarded-* only from review_trusted_proxies
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]


async def serve(
    settings: Settings,
    client: Client | None = None,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Run the page until interrupted (`aiflow review serve`)."""
    if not settings.review_tokens:
        raise RuntimeError("no reviewer can log in: set AIFLOW_REVIEW_TOKENS (see .env.example)")
    client = client or await connect(settings)
    server = build_server(settings, client, host, port)
    reviewers = len(settings.review_tokens)
    log.info(
        "review_web.start", host=server.config.host, port=server.config.port, reviewers=reviewers
    )
    await server.serve()
