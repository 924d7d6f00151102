"""Start triage runs for tickets: one, or a JSONL batch. Idempotent by ticket id.

aiflow submit tickets.jsonl        # one JSON ticket per line
aiflow submit --wait ticket.json   # wait until each is done or awaiting review
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.store import Store
from contracts import RunState, Stage, Ticket, TriageInput, TriageResult
from settings import Settings
from worker import connect
from workflows.triage import TriageWorkflow

PREVIEW_CHARS = 1000  # what of an oversized body travels in history


def workflow_id_for(ticket_id: str) -> str:
    """The business key: one workflow per ticket id, so a ticket is processed once."""
    if len(ticket_id) <= 200:
        return f"ticket-{ticket_id}"
    return "ticket-sha256-" + hashlib.sha256(ticket_id.encode()).hexdigest()


def ticket_handle(client: Client, ticket_id: str) -> WorkflowHandle:
    """The triage run of a ticket, typed (for its query, signal and result)."""
    return client.get_workflow_handle_for(TriageWorkflow.run, workflow_id_for(ticket_id))


def offload_large_body(ticket: Ticket, store: Store, max_chars: int) -> Ticket:
    """Keep oversized bodies out of history: store them whole, send a reference + preview."""
    if ticket.body is None or len(ticket.body) <= max_chars:
        return ticket
    ref = store.put_blob(ticket.body)
    return ticket.model_copy(
        update={
            "body": ticket.body[:PREVIEW_CHARS],
            "body_ref": ref,
            "body_chars": len(ticket.body),
        }
    )


def _printable(text: str | None, limit: int) -> str:
    clean = "".join(ch if ch.isprintable() else " " for ch in (text or ""))
    return " ".join(clean.split())[:limit]


@dataclass
class Submitted:
    ticket_id: str
    handle: WorkflowHandle | None
    duplicate: bool = False
    error: str | None = None  # the ticket could not even be started (no usable id)


async def submit(client: Client, settings: Settings, store: Store, raw: dict) -> Submitted:
    try:
        ticket = Ticket.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Submitted(
            str(raw.get("ticket_id", "?")), None, error=f"not a ticket: {where}: {first['msg']}"
        )
    ticket = offload_large_body(ticket, store, settings.max_body_chars)
    wf_id = workflow_id_for(ticket.ticket_id)
    try:
        handle = await client.start_workflow(
            TriageWorkflow.run,
            TriageInput(ticket=ticket),
            id=wf_id,
            task_queue=settings.orchestration_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Ticket {_printable(ticket.ticket_id, 64)}: "
            f"{_printable(ticket.subject, 80)}",
        )
        return Submitted(ticket.ticket_id, handle)
    except WorkflowAlreadyStartedError:
        return Submitted(ticket.ticket_id, ticket_handle(client, ticket.ticket_id), duplicate=True)


async def wait_settled(handle: WorkflowHandle, poll: float = 0.5) -> TriageResult | RunState:
    """The result when the run completes, or its state once it waits for a reviewer."""
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=poll)
            if done:
                return result.result()
            state = await handle.query(TriageWorkflow.status)
            if state.stage == Stage.REVIEW and state.needs_review:
                return state
    finally:
        result.cancel()


def read_tickets(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def run(args: argparse.Namespace, client: Client, settings: Settings) -> int:
    store = Store(settings.store_url)
    store.create_schema()
    failures = 0
    try:
        for raw in read_tickets(args.file):
            sub = await submit(client, settings, store, raw)
            if sub.error:
                failures += 1
                print(f"{sub.ticket_id}\tnot started\t{sub.error}")
                continue
            note = "already submitted" if sub.duplicate else "started"
            line = f"{sub.ticket_id}\t{note}\t{sub.handle.id}"
            if args.wait:
                settled = await wait_settled(sub.handle)
                line += "\t" + (
                    settled.outcome.value
                    if isinstance(settled, TriageResult)
                    else "awaiting review: " + ",".join(settled.review_reasons)
                )
            print(line)
    finally:
        store.close()
    return 1 if failures else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow submit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, help="a .json ticket (or list) or a .jsonl file")
    p.add_argument(
        "--wait", action="store_true", help="wait until each run completes or awaits review"
    )
    return p


async def amain(
    argv: list[str] | None = None, client: Client | None = None, settings: Settings | None = None
) -> int:
    args = parser().parse_args(argv)
    settings = settings or Settings()
    return await run(args, client or await connect(settings), settings)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(argv))


if __name__ == "__main__":
    sys.exit(main())
