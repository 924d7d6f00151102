"""The review web page: the queue, one review beside the AI proposal, approve / edit /
reject / spam, and bulk decisions over the queue. A small server-rendered Starlette app
over `starter.reviews`, with no JavaScript.

The queue comes from the store's reviews table (one query, filtered by route, reason,
assignee and age, most urgent SLA first); a bulk decision is one validated update per run,
each with its own receipt, listed on the result page.

Reviewers log in with their token (settings `review_tokens`); the identity recorded with a
decision is the token's, never a form field's. Every POST needs the session's CSRF token
and a same-origin Origin/Referer. Decisions carry the review id and version the page showed
(a stale page is refused by the run) and a decision id made when the page was rendered
(a form sent twice is answered once).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import structlog
import uvicorn
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.service import RPCError

from activities.review_store import QueueFilter
from activities.store import Store
from contracts import CATEGORIES, PRIORITIES, ReviewAction, ReviewDecision, ReviewRequest
from deployment import connect, workflow_specs
from settings import Settings
from starter import reviews
from starter.review_auth import (
    COOKIE,
    SecurityHeaders,
    Session,
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
MAX_FORM_BYTES = 64 * 1024  # a reply is at most 5,000 characters
QUEUE_PAGE = 500  # reviews one queue page shows (and one bulk decision takes)
BULK_ACTIONS = {a.value: a for a in (ReviewAction.APPROVE, ReviewAction.SPAM)}
BULK_ACTIONS |= {a.value: a for a in (ReviewAction.REJECT, ReviewAction.REASSIGN)}
MAX_BULK_FORM_BYTES = 96 * 1024  # QUEUE_PAGE workflow ids
Denied = Response  # what a guard returns instead of letting the request through


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

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.store = Store(settings.store_url)
        self.store.create_schema()  # a page may be up before the first worker made it
        self.task_queue = settings.orchestration_queue
        self.specs = workflow_specs(settings)
        self.sessions = Sessions(
            settings.review_tokens, settings.review_session_secret, settings.review_session_seconds
        )
        self.jinja = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined
        )
        self.jinja.filters |= {"span": span, "review_href": review_href}
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

    def signed_in(self, request: Request) -> Session | Denied:
        """The request's session; else a browser asking for a page is sent to the login
        and anything else gets 401 (the login page)."""
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is not None:
            return session
        query = f"?{request.url.query}" if request.url.query else ""
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = quote(local_path(request.url.path + query))
            return RedirectResponse(f"/login?next={target}", status_code=303)
        text = "Log in first: your session is missing or has expired."
        return self.render("login.html", 401, message=text, next="/queue")

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
        if not length.isdigit() or int(length) > max_bytes:  # browsers always send it
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
        return self.render("login.html", message=None, next=target)

    async def login(self, request: Request) -> Response:
        form = await self.posted(request, None)
        if isinstance(form, Denied):
            return form
        target = local_path(field(form, "next"))
        reviewer = self.sessions.identify(field(form, "token"))
        if reviewer is None:
            log.warning("review_web.login_refused", client=request.client and request.client.host)
            return self.render("login.html", 401, message="That token is not valid.", next=target)
        log.info("review_web.login", reviewer=reviewer)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            self.sessions.issue(reviewer),
            max_age=self.sessions.lifetime,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        session = self.signed_in(request)
        if isinstance(session, Denied):
            return session
        form = await self.posted(request, session)
        if isinstance(form, Denied):
            return form
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

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
            action and sent["version"].isdigit() and DECISION_ID.fullmatch(sent["decision_id"])
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

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        log.error("review_web.temporal_error", error=str(exc))
        text = "The Temporal service did not answer; try again shortly."
        return self.message(503, "Temporal unavailable", text, None)


def create_app(client: Client, settings: Settings) -> Starlette:
    """The review page as an ASGI app (tests drive it through httpx's ASGI transport)."""
    page = ReviewPage(client, settings)
    routes = [
        Route("/", page.home),
        Route("/review.css", page.stylesheet),
        Route("/login", page.login_form, methods=["GET"]),
        Route("/login", page.login, methods=["POST"]),
        Route("/logout", page.logout, methods=["POST"]),
        Route("/queue", page.queue),
        Route("/bulk", page.bulk, methods=["POST"]),
        Route("/review/{ticket_id:path}", page.detail, methods=["GET"]),
        Route("/review/{ticket_id:path}", page.submit, methods=["POST"]),
        Route("/fields/{run_id:path}", page.field_detail, methods=["GET"]),
        Route("/fields/{run_id:path}", page.field_submit, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={RPCError: page.unavailable})
    app.add_middleware(SecurityHeaders)
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
        proxy_headers=True,  # X-Forwarded-Proto from a local TLS proxy marks cookies Secure
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
