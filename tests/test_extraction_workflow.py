"""The extraction workflow end to end on a real Temporal dev server, with aiflow's real
workers, the offline extractor and a SQLite store."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError

from activities.store import open_store
from contracts.extraction import ExtractionOutcome, ExtractionResult, LineItem
from contracts.items import FieldAction, FieldDecision, FieldDelta
from starter.documents import document_items
from starter.items import workflow_id
from tests.conftest import make_settings, running_worker
from workflows.extraction import SPEC, ExtractionWorkflow

CLEAN = """From: ACME Tools GmbH
Invoice No: INV-2024-0042
Invoice date: 2024-03-05
Due date: 2024-04-04
Description Qty Unit price Amount
Hammer 2 12.50 25.00
Cable set 3 10.00 30.00
Subtotal: 55.00 EUR
VAT 20%: 11.00 EUR
Total: 66.00 EUR
Thank you for your order.
"""
# "Total excl. VAT" comes first: the first answer takes it as the total, the check fails
EXCL = CLEAN.replace("Subtotal:", "Total excl. VAT:")
# no vendor label: the vendor is a guess from the first line, so a person checks it
UNLABELLED = CLEAN.replace("From: ", "")


async def start(client, settings, tmp_path: Path, name: str, content: bytes) -> WorkflowHandle:
    """Start a document as `aiflow run documents` would (the id made unique per test)."""
    path = tmp_path / name
    path.write_bytes(content)
    with open_store(settings.store_url) as store:
        (item,) = list(document_items(path, store, settings))
    assert item.error is None
    return await client.start_workflow(
        ExtractionWorkflow.run,
        item.input,
        id=workflow_id(SPEC, f"{item.key}-{settings.model_queue}"),
        task_queue=settings.orchestration_queue,
    )


def steps_of(result: ExtractionResult) -> list[tuple[str, str]]:
    return [(s.step, s.outcome) for s in result.steps]


async def wait_for_review(handle: WorkflowHandle) -> None:
    for _ in range(200):
        if (await handle.query(ExtractionWorkflow.status)).needs_review:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no field review opened")


async def test_clean_invoice_is_extracted_without_review(env, settings, tmp_path):
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, "clean.txt", CLEAN.encode())
        result = await handle.result()
    assert result.outcome == ExtractionOutcome.EXTRACTED
    f = result.fields
    assert (f.vendor, f.invoice_number, f.invoice_date, f.due_date, f.currency) == (
        "ACME Tools GmbH",
        "INV-2024-0042",
        date(2024, 3, 5),
        date(2024, 4, 4),
        "EUR",
    )
    assert (f.subtotal, f.tax, f.total) == (55.0, 11.0, 66.0)
    assert f.line_items == [
        LineItem(description="Hammer", quantity=2, unit_price=12.5, amount=25.0),
        LineItem(description="Cable set", quantity=3, unit_price=10.0, amount=30.0),
    ]
    assert steps_of(result) == [
        ("ingest", "ok"),
        ("extract", "ok"),
        ("checks", "pass"),
        ("decide", "auto"),
        ("finalize", "extracted"),
    ]
    assert (result.model_calls, result.findings, result.in_doubt, result.deltas) == (1, [], {}, [])
    assert (result.document.pages, result.document.language, result.document.parts) == (
        1,
        "en",
        ["body"],
    )
    with open_store(settings.store_url) as store:
        row = store.get_run(handle.id)
        assert (row.stage, row.outcome, row.category, row.model_calls) == (
            "done",
            "extracted",
            "invoice",
            1,
        )
        assert row.result["workflow_type"] == "DocumentExtraction"
        assert [s.step for s in store.get_steps(handle.id)] == [s.step for s in result.steps]


async def test_failed_check_is_re_asked_with_the_findings(env, settings, tmp_path):
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, "excl.txt", EXCL.encode())
        result = await handle.result()
    assert steps_of(result) == [
        ("ingest", "ok"),
        ("extract", "ok"),
        ("checks", "fail"),
        ("extract", "ok"),
        ("checks", "pass"),
        ("decide", "auto"),
        ("finalize", "extracted"),
    ]
    checks = [s.details for s in result.steps if s.step == "checks"]
    assert [(c["findings"], c["attempt"]) for c in checks] == [(["tax_arithmetic"], 1), ([], 2)]
    assert result.proposed.total == 66.0 and result.fields.total == 66.0
    assert (result.outcome, result.model_calls) == (ExtractionOutcome.EXTRACTED, 2)


async def test_doubtful_field_is_corrected_in_review(env, settings, tmp_path):
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, "u.txt", UNLABELLED.encode())
        await wait_for_review(handle)
        req = await handle.query(ExtractionWorkflow.field_review)
        assert req.in_doubt == {"vendor": "confidence 0.55 < 0.80"}
        assert req.fields["vendor"] == "ACME Tools GmbH"
        with pytest.raises(WorkflowUpdateFailedError):  # checked against the schema first
            await handle.execute_update(
                ExtractionWorkflow.review_fields,
                FieldDecision(
                    action=FieldAction.CORRECT, reviewer="ana", corrections={"due_date": "soon"}
                ),
            )
        await handle.execute_update(
            ExtractionWorkflow.review_fields,
            FieldDecision(
                action=FieldAction.CORRECT,
                reviewer="ana",
                review_id=req.review_id,
                corrections={"vendor": "ACME Tools GmbH (Berlin)"},
            ),
        )
        result = await handle.result()
    assert result.outcome == ExtractionOutcome.CORRECTED
    assert result.deltas == [
        FieldDelta(field="vendor", proposed="ACME Tools GmbH", corrected="ACME Tools GmbH (Berlin)")
    ]
    assert (result.fields.vendor, result.proposed.vendor) == (
        "ACME Tools GmbH (Berlin)",
        "ACME Tools GmbH",
    )
    assert (result.reviewer, result.reasons) == ("ana", ["low_confidence"])
    assert steps_of(result)[-3:] == [
        ("decide", "review"),
        ("review", "correct"),
        ("finalize", "corrected"),
    ]


async def test_approved_review_keeps_the_proposal(env, settings, tmp_path):
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, "a.txt", UNLABELLED.encode())
        await wait_for_review(handle)
        await handle.signal(
            ExtractionWorkflow.review_fields_signal,
            FieldDecision(action=FieldAction.APPROVE, reviewer="ben"),
        )
        result = await handle.result()
    assert (result.outcome, result.deltas, result.fields) == (
        ExtractionOutcome.APPROVED,
        [],
        result.proposed,
    )


async def test_review_sla_expiry_escalates(env, tmp_path):
    settings = make_settings(tmp_path, review_sla_seconds=1.0)
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, "s.txt", UNLABELLED.encode())
        result = await handle.result()
    assert result.outcome == ExtractionOutcome.ESCALATED
    assert result.reasons == ["low_confidence", "review_sla_expired"]
    assert steps_of(result)[-2:] == [("review", "expired"), ("finalize", "escalated")]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "MalformedDocument"),
        ("empty.txt", b"", "MalformedDocument"),
    ],
)
async def test_malformed_document_is_rejected_not_failed(
    env, settings, tmp_path, name, content, reason
):
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, name, content)
        result = await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (result.outcome, result.reasons, result.fields) == (
        ExtractionOutcome.REJECTED,
        [reason],
        None,
    )
    assert steps_of(result) == [("ingest", "rejected"), ("finalize", "rejected")]
