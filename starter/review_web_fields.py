"""The review web page's field reviews (every workflow but tickets): the queue's second
table, a run's page (the source beside each AI field, doubtful ones marked, each field
editable) and its decision (approve, correct the changed fields, reject) through the
`review_fields` update. A mixin of review_web.ReviewPage: its sessions, CSRF and
templates; nothing here knows a workflow by name."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contracts.items import FieldAction, FieldDecision
from starter import field_reviews
from starter.reviews import NoSuchReview, NoWorker, ReviewRefused

FIELD_ACTIONS = {a.value: a for a in FieldAction}


def shown(value: Any) -> str:
    """A field's value as the form shows it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def changed(proposed: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The fields the reviewer changed, each parsed back (JSON when it parses, else text)."""
    out = {}
    for name, value in proposed.items():
        sent = form.get(f"field:{name}")
        if sent is None or sent == shown(value):
            continue
        out[name] = field_reviews.parse_value(sent)
    return out


class FieldReviewPages:
    """Needs from its host: client, task_queue, specs, signed_in, posted, render, message."""

    async def field_queue(self) -> tuple[list, int]:
        return await field_reviews.pending(self.client, self.specs, self.task_queue)

    async def field_detail(self, request: Request) -> Response:
        session = self.signed_in(request)
        if isinstance(session, Response):
            return session
        run_id = request.path_params["run_id"]
        try:
            req = await field_reviews.get(self.client, run_id)
        except NoSuchReview:
            return self.message(404, "No pending review", f"No field review for {run_id}.", session)
        values = {name: shown(v) for name, v in req.fields.items()}
        return self.render(
            "fields.html", 200, session, run_id=run_id, req=req, values=values, refusal=None
        )

    async def field_submit(self, request: Request) -> Response:
        session = self.signed_in(request)
        if isinstance(session, Response):
            return session
        form = await self.posted(request, session)
        if isinstance(form, Response):
            return form
        run_id = request.path_params["run_id"]
        action = FIELD_ACTIONS.get(str(form.get("action", "")))
        try:
            req = await field_reviews.get(self.client, run_id)
        except NoSuchReview:
            return self.message(404, "No pending review", f"No field review for {run_id}.", session)
        sent = {k: str(v) for k, v in form.items()}
        corrections = changed(req.fields, sent) if action == FieldAction.CORRECT else {}
        if action is None or str(form.get("review_id", "")) != req.review_id:
            return self.message(
                422, "Bad form", "The form is stale or incomplete; reload it.", session
            )
        decision = FieldDecision(
            action=action,
            reviewer=session.reviewer,  # from the token, never from the form
            review_id=req.review_id,
            corrections=corrections,
            note=sent.get("note", "").strip()[:2000] or None,
        )
        try:
            await field_reviews.decide(self.client, run_id, decision)
        except ReviewRefused as refused:
            values = {name: sent.get(f"field:{name}", shown(v)) for name, v in req.fields.items()}
            return self.render(
                "fields.html",
                409,
                session,
                run_id=run_id,
                req=req,
                values=values,
                refusal=str(refused),
            )
        except (NoSuchReview, NoWorker) as err:
            return self.message(503, "Not applied", str(err), session)
        done = f"{action.value} applied to {run_id}" + (
            f": {', '.join(sorted(corrections))} corrected" if corrections else ""
        )
        return self.message(200, "Decision applied", done, session)
