"""Answer the runs that wait for a reviewer.

    aiflow review list [--from temporal|store]
    aiflow review show T-1001
    aiflow review approve  T-1001 --reviewer ana@example.com
    aiflow review edit     T-1001 --reviewer ana@example.com --reply "Hello ..." --category billing
    aiflow review reject   T-1001 --reviewer ana@example.com --reason duplicate
    aiflow review escalate T-1001 --reviewer ana@example.com --reason legal
    aiflow review reassign T-1001 --reviewer ana@example.com --assignee ben@example.com
    aiflow review serve                       # the review web page

Runs of the other workflows (documents, content, your own) wait in field reviews: a
person checks the fields in doubt. `list` shows them too; `show`, `approve`, `reject`
and `edit` take their run id (as `list` prints it):
    aiflow review show doc-3f2a...
    aiflow review edit doc-3f2a... --reviewer ana@example.com --set total=1234.50 --set currency=EUR

Decisions go as the `submit_review` update: the run validates them and answers at once
(exit 3 with its reason when it refuses). `--signal` sends the `review_decision` signal
instead: accepted even while no worker runs, applied (or logged as invalid) later.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from pydantic import ValidationError
from temporalio.client import Client

from activities.store import open_store
from contracts import CATEGORIES, PRIORITIES, ReviewAction, ReviewDecision, ReviewRequest
from contracts.items import FieldAction, FieldDecision
from deployment import configure_logging, connect, workflow_specs
from settings import Settings
from starter import field_reviews, reviews
from starter.field_reviews import is_field_run
from starter.tables import ago, side_by_side, table
from starter.terminal import safe_text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="pending reviews, oldest first")
    ls.add_argument(
        "--from",
        dest="source",
        choices=["temporal", "store"],
        default="temporal",
        help="Temporal visibility + each run's query (default), or the store's reviews table",
    )
    show = sub.add_parser("show", help="a pending review: the input beside the AI proposal")
    show.add_argument("ticket_id", help="a ticket id, or a field review's run id")
    for action in ReviewAction:
        a = sub.add_parser(action.value, help=f"{action.value} a pending review")
        a.add_argument("ticket_id", help="the ticket id (e.g. T-1001), or a field review's run id")
        a.add_argument("--reviewer", required=True, help="who decides (name or email)")
        a.add_argument("--note", help="a comment, kept with the decision")
        a.add_argument("--reason", required=action == ReviewAction.REJECT, help="a reason code")
        a.add_argument("--version", type=int, help="the review version you saw (stale: refused)")
        a.add_argument("--decision-id", help="idempotency key (default: a new one)")
        a.add_argument("--signal", action="store_true", help="fire and forget (no answer)")
        if action == ReviewAction.EDIT:
            a.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="FIELD=VALUE",
                help="a field review's corrected field (VALUE as JSON, else text); repeatable",
            )
            a.add_argument("--reply", help="the corrected reply")
            a.add_argument("--category", choices=CATEGORIES, help="the corrected category")
            a.add_argument("--priority", choices=PRIORITIES, help="the corrected priority")
        if action == ReviewAction.REASSIGN:
            a.add_argument("--assignee", required=True, help="who takes the review over")
    serve = sub.add_parser("serve", help="run the review web page")
    serve.add_argument("--host", help="default: AIFLOW_REVIEW_WEB_HOST")
    serve.add_argument("--port", type=int, help="default: AIFLOW_REVIEW_WEB_PORT")
    return p


def queue_table(pending: list[ReviewRequest], now: datetime) -> str:
    rows = [
        [
            r.ticket_id,
            ago(now - r.requested_at),
            ("overdue " + ago(now - r.sla_deadline))
            if r.sla_deadline <= now
            else ago(r.sla_deadline - now),
            r.proposal.category or "-",
            f"{r.confidence:.2f}" if r.confidence is not None else "-",
            "yes" if r.escalated else "",
            r.assignee or "",
            ", ".join(r.reasons),
        ]
        for r in pending
    ]
    head = ["TICKET", "AGE", "SLA LEFT", "CATEGORY", "CONF", "ESC", "ASSIGNEE", "REASONS"]
    return table(head, rows) + f"\n{len(pending)} review(s) pending"


def review_card(r: ReviewRequest) -> str:
    t = r.ticket
    p = r.proposal
    ticket_lines = [
        f"subject:  {t.subject if t else '-'}",
        f"from:     {t.customer_name or '-'} <{t.customer_email}>" if t else "from: -",
        f"channel:  {t.channel} · tier {t.customer_tier}" if t else "",
        "",
        *((t.body if t else "").splitlines() or [""]),
    ]
    proposal_lines = [
        f"category: {p.category or '-'}   priority: {p.priority or '-'}",
        f"confidence: {r.confidence:.2f}" if r.confidence is not None else "confidence: -",
        "",
        *((p.reply or "(no valid reply: edit with --reply)").splitlines()),
    ]
    head = [
        f"review {r.review_id} v{r.version} · ticket {r.ticket_id} · run {r.workflow_id}",
        f"why: {', '.join(r.reasons)}   queue: {r.queue}   cost so far: ${r.cost_usd:.6f}",
        f"due {r.sla_deadline:%Y-%m-%d %H:%M} UTC"
        + (" · escalated" if r.escalated else "")
        + (f" · assigned to {r.assignee}" if r.assignee else ""),
    ]
    tail = [f"QA: {f.check}: {f.message}" for f in r.qa_findings]
    if r.partial_output:
        tail.append(f"partial model output: {r.partial_output[:300]}")
    tail.append(f"prompts: {', '.join(r.prompt_versions) or '-'}   models: {', '.join(r.models)}")
    return "\n".join(
        [*head, "", side_by_side("INPUT", ticket_lines, "AI PROPOSAL", proposal_lines), "", *tail]
    )


def decision_of(args: argparse.Namespace) -> ReviewDecision:
    return ReviewDecision(
        action=ReviewAction(args.command),
        reviewer=args.reviewer,
        decision_id=args.decision_id,
        version=args.version,
        note=args.note,
        reason=args.reason,
        reply=getattr(args, "reply", None),
        category=getattr(args, "category", None),
        priority=getattr(args, "priority", None),
        assignee=getattr(args, "assignee", None),
    )


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or Settings()
    if args.command == "list" and args.source == "store":
        with open_store(settings.store_url) as store:
            print(queue_table(reviews.pending_from_store(store), datetime.now(UTC)))
        return 0
    client = client or await connect(settings)
    if args.command == "serve":
        from starter.review_web import serve  # the web stack only when asked for

        configure_logging(settings)
        await serve(settings, client, host=args.host, port=args.port)
        return 0
    specs = workflow_specs(settings)
    if args.command == "list":
        now = datetime.now(UTC)
        queue = await reviews.pending(client, settings.orchestration_queue)
        fields, silent = await field_reviews.pending(client, specs, settings.orchestration_queue)
        print(queue_table(queue.reviews, now))
        if fields:
            print("\n" + field_reviews.queue_table(fields, now))
        if queue.silent + silent:
            print(f"{queue.silent + silent} more run(s) did not answer: is a worker running?")
        return 0
    if is_field_run(args.ticket_id, specs):
        return await field_command(client, args)
    try:
        if args.command == "show":
            print(review_card(await reviews.get(client, args.ticket_id)))
            return 0
        decision = decision_of(args)
        if args.signal:
            await reviews.send(client, args.ticket_id, decision)
            print(f"{decision.action.value} signalled to ticket {safe_text(args.ticket_id)}")
            return 0
        receipt = await reviews.decide(client, args.ticket_id, decision)
    except DECISION_ERRORS as err:
        return decision_failed(err)
    done = "already applied" if receipt.duplicate else "applied"
    print(
        f"{receipt.action.value} {done}: ticket {safe_text(args.ticket_id)}, "
        f"review {receipt.review_id} "
        f"now v{receipt.version}, decision {receipt.decision_id}"
    )
    return 0


DECISION_ERRORS = (ValueError, reviews.NoSuchReview, reviews.NoWorker, reviews.ReviewRefused)


def decision_failed(err: Exception) -> int:
    """One line on stderr for a decision that was not applied, and its exit code: 2 an
    invalid decision, 1 no such review or no worker, 3 the run refused it."""
    if isinstance(err, reviews.ReviewRefused):
        print(f"aiflow review: refused: {err}", file=sys.stderr)
        return 3
    if isinstance(err, reviews.NoSuchReview | reviews.NoWorker):
        print(f"aiflow review: {err}", file=sys.stderr)
        return 1
    message = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
    print(f"aiflow review: invalid decision: {message}", file=sys.stderr)
    return 2


FIELD_ACTIONS = {
    "approve": FieldAction.APPROVE,
    "reject": FieldAction.REJECT,
    "edit": FieldAction.CORRECT,
}


async def field_command(client: Client, args: argparse.Namespace) -> int:
    """show / approve / reject / edit of a field review (any workflow but tickets)."""
    run_id = args.ticket_id
    try:
        if args.command == "show":
            print(field_reviews.card(run_id, await field_reviews.get(client, run_id)))
            return 0
        if args.command not in FIELD_ACTIONS:
            print(
                f"aiflow review: a field review takes {', '.join(FIELD_ACTIONS)}", file=sys.stderr
            )
            return 2
        decision = FieldDecision(
            action=FIELD_ACTIONS[args.command],
            reviewer=args.reviewer,
            corrections=field_reviews.parse_corrections(getattr(args, "set", [])),
            note=args.note,
        )
        await field_reviews.decide(client, run_id, decision)
    except DECISION_ERRORS as err:
        return decision_failed(err)
    print(f"{decision.action.value} applied: run {safe_text(run_id)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
