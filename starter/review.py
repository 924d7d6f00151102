"""Answer the runs that wait for a reviewer.

    aiflow review list [--route R] [--with-reason R] [--assigned-to A|-] [--older-than 2h]
                       [--limit N] [--from store|temporal]
    aiflow review show T-1001
    aiflow review approve  T-1001 --reviewer ana@example.com
    aiflow review edit     T-1001 --reviewer ana@example.com --reply "Hello ..." --category billing
    aiflow review reject   T-1001 --reviewer ana@example.com --reason duplicate
    aiflow review escalate T-1001 --reviewer ana@example.com --reason legal
    aiflow review reassign T-1001 --reviewer ana@example.com --assignee ben@example.com
    aiflow review spam     T-1001 --reviewer ana@example.com   # close as spam, send nothing
    aiflow review serve                       # the review web page

Many at once (each still its own validated decision with its own receipt):
    aiflow review spam --route spam-review --reviewer ana@example.com
    aiflow review approve T-1001 T-1002 --reviewer ana@example.com
    aiflow review reject --ids ids.txt --reason duplicate --reviewer ana@example.com
    aiflow review reassign --query "AiflowRoute = 'legal'" --assignee ben@example.com --reviewer ana
`--dry-run` prints what a bulk decision would take and sends nothing. With
`--decision-id K`, ticket T's decision id is `K:T`, so running the same bulk command again
answers with the first receipts instead of deciding twice.

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
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client

from activities.review_store import QueueFilter, ReviewRow
from activities.store import open_store
from contracts import CATEGORIES, PRIORITIES, ReviewAction, ReviewDecision, ReviewRequest
from contracts.items import FieldAction, FieldDecision
from deployment import TemporalUnreachable, configure_logging, connect, workflow_specs
from settings import Settings
from starter import field_reviews, reviews
from starter.field_reviews import is_field_run
from starter.runs import workflow_id_for
from starter.tables import ago, side_by_side, table
from starter.terminal import CliError, CliParser, load_settings, run_main, safe_text


def aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog="aiflow review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="pending reviews, most urgent SLA first")
    ls.add_argument(
        "--from",
        dest="source",
        choices=["store", "temporal"],
        default="store",
        help="the store's reviews table (default: one query, SLA order), or Temporal "
        "visibility + each run's query (what the runs themselves say, slower)",
    )
    add_filters(ls)
    ls.add_argument(
        "--tickets-only",
        action="store_true",
        help="ticket reviews only: no Temporal round trip for the other workflows' field reviews",
    )
    show = sub.add_parser("show", help="a pending review: the input beside the AI proposal")
    show.add_argument("ticket_id", help="a ticket id, or a field review's run id")
    for action in ReviewAction:
        a = sub.add_parser(action.value, help=f"{action.value} a pending review")
        if action == ReviewAction.EDIT:
            a.add_argument(
                "ticket_id", help="the ticket id (e.g. T-1001), or a field review's run id"
            )
        else:
            a.add_argument(
                "ticket_ids",
                nargs="*",
                metavar="ticket_id",
                help="ticket ids (e.g. T-1001), or one field review's run id",
            )
            a.add_argument("--ids", type=Path, help="a file of ticket ids, one a line")
            a.add_argument(
                "--query",
                help="the runs a Temporal visibility query names (e.g. AiflowRoute = 'legal')",
            )
            add_filters(a)
            a.add_argument("--dry-run", action="store_true", help="list the targets; send nothing")
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


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--route", help="reviews in this queue only (general, legal, spam-review, ...)")
    p.add_argument(
        "--with-reason",
        dest="with_reason",
        metavar="REASON",
        help="reviews with this reason only (low_confidence, likely_spam, ...)",
    )
    p.add_argument(
        "--assigned-to",
        dest="assigned_to",
        metavar="WHO",
        help="reviews assigned to this person only ('-': unassigned)",
    )
    p.add_argument(
        "--older-than", type=duration, metavar="AGE", help="waiting at least AGE (90s, 15m, 2h, 1d)"
    )
    p.add_argument("--limit", type=positive_int, help="at most this many, most urgent first")


def duration(text: str) -> timedelta:
    age = reviews.parse_age(text)
    if age is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 90s, 15m, 2h or 1d")
    return age


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def queue_filter(args: argparse.Namespace) -> QueueFilter:
    return QueueFilter(
        route=args.route,
        reason=args.with_reason,
        assignee=args.assigned_to,
        older_than=args.older_than,
        limit=args.limit,
    )


def filtering(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, k, None) for k in ("route", "with_reason", "assigned_to", "older_than")
    )


def category(r: ReviewRequest | ReviewRow) -> str | None:
    return r.category if isinstance(r, ReviewRow) else r.proposal.category


def queue_table(pending: list[ReviewRequest] | list[ReviewRow], now: datetime) -> str:
    rows = [
        [
            r.ticket_id,
            ago(now - aware(r.requested_at)),
            ("overdue " + ago(now - aware(r.sla_deadline)))
            if aware(r.sla_deadline) <= now
            else ago(aware(r.sla_deadline) - now),
            r.queue,
            category(r) or "-",
            f"{r.confidence:.2f}" if r.confidence is not None else "-",
            "yes" if r.escalated else "",
            r.assignee or "",
            ", ".join(r.reasons),
        ]
        for r in pending
    ]
    head = ["TICKET", "AGE", "SLA LEFT", "ROUTE", "CATEGORY", "CONF", "ESC", "ASSIGNEE", "REASONS"]
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
    settings = settings or load_settings()
    if args.command == "list" and args.source == "store":
        now = datetime.now(UTC)
        with open_store(settings.store_url) as store:
            print(queue_table(store.pending_queue(queue_filter(args), now), now))
        if filtering(args) or args.limit or args.tickets_only:
            return 0  # the filters are the ticket queue's
        # field reviews (the other workflows) are listed by the runs themselves
        try:
            client = client or await connect(settings)
        except TemporalUnreachable as err:
            print(f"aiflow review: field reviews not listed: {err}", file=sys.stderr)
            return 1
        fields, silent = await field_reviews.pending(
            client, workflow_specs(settings), settings.orchestration_queue
        )
        if fields:
            print("\n" + field_reviews.queue_table(fields, now))
        if silent:
            print(f"{silent} more run(s) did not answer: is a worker running?")
        return 0
    if args.command == "list" and filtering(args):
        print(
            "aiflow review: --route, --with-reason, --assigned-to and --older-than list from the "
            "store (drop --from temporal)",
            file=sys.stderr,
        )
        return 2
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
    if args.command not in ("list", "show", "edit"):
        single = bulk_targets_given(args) is False and len(args.ticket_ids) == 1
        if not single:
            return await bulk_command(client, settings, args)
        args.ticket_id = args.ticket_ids[0]
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


def bulk_targets_given(args: argparse.Namespace) -> bool:
    return bool(args.ids or args.query or filtering(args))


async def targets(client: Client, settings: Settings, args: argparse.Namespace) -> list[str]:
    """Workflow ids of the runs a bulk decision takes, in the order given (duplicates
    dropped): ticket ids, a file of them, a visibility query, the store's queue filters."""
    found = [workflow_id_for(t) for t in args.ticket_ids]
    if args.ids:
        found += [workflow_id_for(t) for t in read_ids(args.ids)]
    if args.query:
        query = f"({args.query}) AND ExecutionStatus = 'Running' AND WorkflowType = 'TicketTriage'"
        found += [wf.id async for wf in client.list_workflows(query)]
    if filtering(args):
        with open_store(settings.store_url) as store:
            found += [
                r.workflow_id for r in store.pending_queue(queue_filter(args), datetime.now(UTC))
            ]
    elif args.limit:
        found = found[: args.limit]
    return list(dict.fromkeys(found))


def read_ids(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise CliError(f"cannot read {safe_text(path, 200)}: {reason}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


async def bulk_command(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    """One decision per run, each its own update with its own receipt; a line per run
    and a summary. Exit 0 all applied, 3 some refused, 1 some not reachable."""
    if args.version is not None:
        print("aiflow review: --version names one review; it cannot go with many", file=sys.stderr)
        return 2
    try:
        ids = await targets(client, settings, args)
    except CliError as err:
        print(f"aiflow review: {err}", file=sys.stderr)
        return 2
    if not ids:
        if not (args.ticket_ids or bulk_targets_given(args)):
            print(
                f"aiflow review {args.command}: name a ticket id, --ids FILE, --query or a "
                "filter (--route, --with-reason, --assigned-to, --older-than)",
                file=sys.stderr,
            )
            return 2
        print(f"aiflow review {args.command}: no pending review matched; nothing sent")
        return 0
    if args.dry_run:
        for wf in ids:
            print(wf)
        print(f"aiflow review {args.command}: would decide {len(ids)} review(s); nothing sent")
        return 0
    results = await reviews.decide_many(client, ids, decision_of(args), args.decision_id)
    counts = dict.fromkeys(reviews.BULK_STATUSES, 0)
    for r in results:
        counts[r.status] += 1
        if r.status == "refused":
            print(f"{r.workflow_id}: refused: {r.detail}", file=sys.stderr)
        elif r.status == "not reached":
            print(f"{r.workflow_id}: {r.detail}", file=sys.stderr)
        else:
            print(f"{args.command} {r.status}: {r.workflow_id}, {r.detail}")
    print(
        f"aiflow review {args.command}: {counts['applied']} applied, {counts['already applied']} "
        f"already applied, {counts['refused']} refused, {counts['not reached']} not reached "
        f"(of {len(ids)})"
    )
    return 1 if counts["not reached"] else 3 if counts["refused"] else 0


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
    return run_main(amain, argv, "aiflow review")


if __name__ == "__main__":
    sys.exit(main())
