"""`python -m bench.extraction`: the generated invoice corpus (starter/doc_corpus.py) through
the REAL extraction workflow on the embedded dev server, offline. Nobody answers a field
review: those documents count as needing review, their proposal is scored as it stands.
Prints field-level accuracy against the truth, the share needing review, the rejected
count and throughput in pages per second."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.logs import configure_logging
from activities.store import open_store
from contracts.extraction import INVOICE_FIELDS, ExtractionState, InvoiceExtraction
from settings import Settings
from starter.doc_corpus import generate
from starter.documents import document_items
from starter.items import workflow_id
from worker import run_workers
from workflows.extraction import SPEC, ExtractionWorkflow
from workflows.search_attributes import ALL_KEYS

POLL_SECONDS = 0.05
SETTLE_TIMEOUT = 120.0


def score(x: InvoiceExtraction | None, truth: dict[str, Any]) -> dict[str, bool]:
    got = (x or InvoiceExtraction()).model_dump(mode="json")
    return {f: got[f] == truth[f] for f in INVOICE_FIELDS}


async def settle(handle: WorkflowHandle) -> ExtractionState:
    """The run's state once it is done or waits for a person."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        state = await handle.query(ExtractionWorkflow.status)
        if state.result is not None or state.needs_review:
            return state
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"{handle.id} did not settle in {SETTLE_TIMEOUT} s")


async def run(client: Client, settings: Settings, folder: Path, n: int) -> dict[str, Any]:
    truth = {row["file"]: row for row in generate(folder, n)}
    with open_store(settings.store_url) as store:
        items = list(document_items(folder, store, settings))
    stop = asyncio.Event()
    workers = asyncio.create_task(run_workers(settings, client, stop))
    try:
        started = time.perf_counter()
        handles = {
            i.where: await client.start_workflow(
                ExtractionWorkflow.run,
                i.input,
                id=workflow_id(SPEC, i.key),
                task_queue=settings.orchestration_queue,
            )
            for i in items
            if i.error is None
        }
        settled = await asyncio.gather(*map(settle, handles.values()))
        states = dict(zip(handles, settled, strict=True))
        seconds = time.perf_counter() - started
        for where, st in states.items():  # nobody will answer: end the waiting runs
            if st.result is None:
                await handles[where].terminate("bench done")
    finally:
        stop.set()
        await workers
    fields: dict[str, list[bool]] = {f: [] for f in INVOICE_FIELDS}
    review = rejected = rejected_right = 0
    for where, st in states.items():
        row = truth[where]
        if st.result is not None and st.result.outcome == "rejected":
            rejected += 1
            rejected_right += row["expect"] == "rejected"
            continue
        review += st.needs_review
        x = st.result.fields if st.result else st.extraction
        if row["fields"] is not None:
            for f, ok in score(x, row["fields"]).items():
                fields[f].append(ok)
    pages = sum(st.document.pages for st in states.values() if st.document)
    scored = [ok for oks in fields.values() for ok in oks]
    return {
        "documents": len(states),
        "not_started": [i.where for i in items if i.error],
        "field_accuracy": round(sum(scored) / len(scored), 4) if scored else None,
        "by_field": {f: round(sum(v) / len(v), 3) for f, v in fields.items() if v},
        "needs_review": review,
        "review_share": round(review / max(1, len(states) - rejected), 3),
        "rejected": rejected,
        "rejected_expected": sum(r["expect"] == "rejected" for r in truth.values()),
        "rejected_right": rejected_right,
        "pages": pages,
        "seconds": round(seconds, 3),
        "pages_per_second": round(pages / seconds, 2),
    }


async def amain(n: int) -> dict[str, Any]:
    configure_logging("WARNING", "console")
    tmp = Path(tempfile.mkdtemp(prefix="aiflow-docbench-"))
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        _env_file=None,
        state_dir=tmp / "var",
        database_url=f"sqlite:///{tmp / 'aiflow.db'}",
        orchestration_queue=f"orch-{tag}",
        model_queue=f"models-{tag}",
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal", path=str(Path(sys.executable).parent)),
        search_attributes=ALL_KEYS,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        return await run(env.client, settings, tmp / "corpus", n)
    finally:
        await env.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.extraction", description=__doc__)
    parser.add_argument("-n", type=int, default=45, help="well-formed invoices (default 45)")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(amain(args.n)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
