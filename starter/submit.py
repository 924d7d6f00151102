"""Start triage runs for tickets: one, or a JSONL batch. Idempotent by ticket id.

aiflow submit tickets.jsonl          # one JSON ticket per line (read as a stream)
aiflow submit ticket.json            # one ticket, or a list of them
aiflow submit --wait ticket.json     # wait until each is done or awaiting review
aiflow submit --rerun tickets.jsonl  # also run again each ticket whose earlier run failed

Each ticket gets one line: ID, what happened, the workflow id or the reason:
  started | rerun | not started | already submitted (running) |
  already submitted (finished: OUTCOME) | already submitted (failed: run aiflow retry ID)
The whole file is read before anything starts, and each ticket is checked against the
caps of contracts.limits before anything is sent to Temporal. Ids and values are shown
escaped.

Exit codes (those of every command, starter/terminal.py; the same for `aiflow retry`):
  0    every ticket was started, or was already running or finished
  1    some ticket was not started: over a cap, no usable id, not a ticket (wins over 3);
       or (--wait) some run's status query kept failing, so it was not followed
  3    some earlier run failed: rerun it with `aiflow retry ID` or `submit --rerun`
  2    usage error, unreadable file (then nothing is started), invalid settings
  4    no Temporal server at the address named (and the setting it came from)
  141  stdout was closed (`| head`): tickets after the last line shown were not submitted
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from activities.store import Store
from contracts import RunState, Stage, Ticket, TriageResult
from contracts.limits import over_limits
from settings import Settings
from starter.items import ItemToStart
from starter.runs import (
    QUERY_TIMEOUT,
    TRIAGE,
    EarlierRun,
    NotSettling,
    connect_cli,
    settle,
    start_once,
    ticket_id_problem,
    ticket_item,
    unreachable,
    workflow_id_for,  # noqa: F401  (the other commands import it from here)
)
from starter.terminal import (
    EXIT_FAILED_BEFORE,
    EXIT_INVALID,
    CliError,
    CliParser,
    error,
    load_settings,
    run_main,
    safe_text,
    say,
)
from starter.ticket_file import iter_tickets, read_tickets  # noqa: F401  (for demo)
from workflows.mailtext import html_to_text, looks_like_html
from workflows.triage import TriageWorkflow

PROG = "aiflow submit"
# A lone surrogate (JSON "\ud800"): pydantic cannot encode it into a payload.
_SURROGATE_RE = re.compile("[\\ud800-\\udfff]")


def offload_large_body(ticket: Ticket, store: Store, max_chars: int) -> Ticket:
    """Keep oversized bodies out of history: store them whole, send a reference and the
    excerpt intake triages (its first `max_chars` characters; of HTML, of its text)."""
    if ticket.body is None or len(ticket.body) <= max_chars:
        return ticket
    ref = store.put_blob(ticket.body)
    text = html_to_text(ticket.body) if looks_like_html(ticket.body) else ticket.body
    return ticket.model_copy(
        update={
            "body": text[:max_chars],
            "body_ref": ref,
            "body_chars": len(ticket.body),
        }
    )


def ticket_items(path: Path, store: Store, settings: Settings) -> Iterator[ItemToStart]:
    """`aiflow run tickets FILE`: the file's tickets, checked as `aiflow submit` checks them
    (a file that cannot be read as tickets starts nothing)."""
    for _ in iter_tickets(path):
        pass
    for where, raw in iter_tickets(path):
        ticket, problem = check_ticket(raw)
        if ticket is None:
            yield ItemToStart(where, error=problem)
            continue
        yield ticket_item(where, offload_large_body(ticket, store, settings.max_body_chars))


def check_ticket(raw: dict, *, strict_id: bool = True) -> tuple[Ticket | None, str | None]:
    """`(ticket, None)`, or `(None, why it is not started)`: no id, not a ticket, a field
    over its cap, or (`strict_id`) an id outside TICKET_ID_RE. Intake would reject such
    an id too; the demo starts one on purpose, to show that."""
    if raw.get("ticket_id") is None:
        return None, "ticket_id is missing"
    if raw["ticket_id"] == "":
        return None, "ticket_id is empty"
    try:
        ticket = Ticket.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"not a ticket: {where}: {first['msg']}"
    over = over_limits(ticket)
    if over:
        return None, "; ".join(message for _, message in over)
    for field, text in _texts(ticket):
        if found := _SURROGATE_RE.search(text):
            return None, f"{field} has a lone surrogate {found.group()!a}: it cannot be sent"
    if strict_id and (problem := ticket_id_problem(ticket.ticket_id)):
        return None, problem
    return ticket, None


def _texts(ticket: Ticket) -> Iterator[tuple[str, str]]:
    for field, value in ticket:
        if isinstance(value, str):
            yield field, value
    for key, value in ticket.metadata.items():
        yield "metadata", key
        yield "metadata", value


@dataclass
class Submitted:
    ticket_id: str
    handle: WorkflowHandle | None
    duplicate: bool = False
    error: str | None = None  # the ticket could not even be started (see check_ticket)
    earlier: EarlierRun | None = None  # of a duplicate: how its latest run stands
    rerun_of: EarlierRun | None = None  # started again after this failed run

    @property
    def note(self) -> str:
        if self.error:
            return "not started"
        if self.rerun_of:
            return "rerun"
        if not self.duplicate:
            return "started"
        e = self.earlier
        if e is None or e.running:
            return "already submitted (running)"
        if e.failed:
            return f"already submitted (failed: run aiflow retry {self.ticket_id})"
        return f"already submitted (finished: {e.outcome or e.how})"


async def submit(
    client: Client,
    settings: Settings,
    store: Store,
    raw: dict,
    *,
    strict_id: bool = False,
    rerun: bool = False,
) -> Submitted:
    """Start the run of one raw ticket, once; `rerun`: also if its earlier run failed."""
    shown = raw.get("ticket_id")
    ticket, problem = check_ticket(raw, strict_id=strict_id)
    if ticket is None:
        return Submitted(shown if isinstance(shown, str) else "?", None, error=problem)
    ticket = offload_large_body(ticket, store, settings.max_body_chars)
    s = await start_once(client, settings, TRIAGE, ticket_item("", ticket), rerun)
    if s.new:
        return Submitted(ticket.ticket_id, s.handle, rerun_of=s.earlier)
    return Submitted(ticket.ticket_id, s.handle, duplicate=True, earlier=s.earlier)


async def wait_settled(handle: WorkflowHandle, poll: float = 0.5) -> TriageResult | RunState:
    """The result when the run completes, or its state once it waits for a reviewer
    (NotSettling if its status query keeps failing)."""

    async def in_review(h: WorkflowHandle) -> RunState | None:
        state = await h.query(TriageWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        return state if state.stage == Stage.REVIEW and state.needs_review else None

    result, state = await settle(handle, in_review, poll)
    return state if state is not None else result


# --- the command ------------------------------------------------------------------------


def _shown(raw: dict, where: str) -> str:
    tid = raw.get("ticket_id")
    return safe_text(tid) if isinstance(tid, str) and tid.strip() else where


async def run(args: argparse.Namespace, client: Client, settings: Settings) -> int:
    store = Store(settings.store_url)
    store.create_schema()
    invalid = failed_before = 0
    try:
        for where, raw in iter_tickets(args.file):
            try:
                sub = await submit(client, settings, store, raw, strict_id=True, rerun=args.rerun)
            except RPCError as err:
                if lost := unreachable(client, err):
                    raise lost from None
                sub = Submitted("?", None, error=f"Temporal refused it: {err.message}")
            line = f"{_shown(raw, where)}\t{sub.note}\t"
            if sub.error:
                invalid += 1
                say(line + safe_text(sub.error, 400))
                continue
            line += sub.handle.id
            if sub.rerun_of:
                line += f" (earlier run {sub.rerun_of.how})"
            if sub.earlier and sub.earlier.failed:
                failed_before += 1
            elif args.wait:
                settled = await _settled(sub)
                if settled.startswith("failed"):
                    failed_before += 1
                elif settled.startswith("not followed"):
                    invalid += 1
                line += "\t" + settled
            say(line)
    finally:
        store.close()
    return EXIT_INVALID if invalid else EXIT_FAILED_BEFORE if failed_before else 0


async def _settled(sub: Submitted) -> str:
    try:
        settled = await wait_settled(sub.handle)
    except WorkflowFailureError:
        return f"failed: run aiflow retry {sub.ticket_id}"
    except NotSettling as err:
        return f"not followed: {err}; see aiflow status {sub.ticket_id}"
    if isinstance(settled, TriageResult):
        return settled.outcome.value
    return "awaiting review: " + ",".join(settled.review_reasons)


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "file",
        type=Path,
        help="a .json ticket (or list), a .jsonl file, an .eml e-mail, or a folder of them",
    )
    p.add_argument(
        "--wait", action="store_true", help="wait until each run completes or awaits review"
    )
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run again, from this file, each ticket whose earlier run failed",
    )
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    try:
        for _ in iter_tickets(args.file):  # a file that cannot be read starts nothing
            pass
        settings = settings or load_settings()
        return await run(args, client or await connect_cli(settings), settings)
    except CliError as err:
        error(PROG, str(err))
        return err.code


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
