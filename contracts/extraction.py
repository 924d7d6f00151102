"""Wire types of the document-extraction workflow (invoices): the document as it travels
(by reference), what ingestion found in it, the model's structured answer, the run's result
and its status.

Durable contracts: add optional fields only. Imports pydantic, the standard library,
`contracts` and `contracts.items`, nothing else.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from contracts import ModelWait, StepRecord, Wire
from contracts.items import FieldDelta, FieldReviewRequest

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # one original: an invoice, not an archive
MAX_PAGES = 200  # pages read of one PDF; the rest is ignored (and reported)
MAX_TEXT_CHARS = 200_000  # of extracted text kept; the model step truncates further
PREVIEW_CHARS = 500  # of text travelling in history, for the reviewer and the status query
CHUNK_CHARS = 8_000  # long texts are also described as chunks of about this size
# What of the text the model reads (it travels in history with each call): an invoice's
# head and its tail, where the totals are.
MODEL_HEAD_CHARS, MODEL_TAIL_CHARS = 16_000, 8_000
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".eml": "message/rfc822",
}


class DocumentInput(Wire):
    """One document to extract: the original stays in the blob store."""

    doc_id: str = Field(min_length=1, max_length=64)  # sha256 prefix of the original
    filename: str = Field(max_length=255)
    media_type: str = Field(max_length=64)
    blob_ref: str = Field(max_length=80)
    size: int = Field(ge=0, le=MAX_DOCUMENT_BYTES)
    sha256: str = Field(min_length=64, max_length=64)


class IngestedDocument(Wire):
    """What `ingest_document` found: small, the text itself is a blob."""

    text_ref: str
    preview: str
    pages: int
    chars: int
    text_sha256: str
    language: str
    chunks: list[tuple[int, int]] = Field(default_factory=list)  # (start, end) offsets
    parts: list[str] = Field(default_factory=list)  # "body", "attachment:x.pdf", ...
    truncated: bool = False
    model_text: str = ""  # bounded: head + tail (MODEL_HEAD_CHARS, MODEL_TAIL_CHARS)


class LineItem(Wire):
    description: str = Field(max_length=500)
    quantity: float | None = None
    unit_price: float | None = None
    amount: float | None = None


class InvoiceExtraction(Wire):
    """The model's answer for an invoice; dates ISO, amounts as numbers."""

    vendor: str | None = Field(None, max_length=300)
    invoice_number: str | None = Field(None, max_length=100)
    invoice_date: date | None = None
    due_date: date | None = None
    currency: str | None = Field(None, max_length=8)
    line_items: list[LineItem] = Field(default_factory=list, max_length=200)
    subtotal: float | None = None
    tax: float | None = None
    total: float | None = None
    field_confidence: dict[str, float] = Field(default_factory=dict)  # field -> 0..1
    reasoning: str | None = Field(None, max_length=2_000)


INVOICE_FIELDS = (
    "vendor",
    "invoice_number",
    "invoice_date",
    "due_date",
    "currency",
    "line_items",
    "subtotal",
    "tax",
    "total",
)


class CheckFinding(Wire):
    """A cross-field check that failed, with the fields it puts in doubt."""

    check: str
    message: str
    fields: list[str] = Field(default_factory=list)


class ExtractionOutcome(StrEnum):
    EXTRACTED = "extracted"  # every field sure and every check passed: no person needed
    APPROVED = "approved"  # a reviewer approved the fields as proposed
    CORRECTED = "corrected"  # a reviewer corrected some fields
    REJECTED = "rejected"  # not a readable document, or a reviewer rejected it
    ESCALATED = "escalated"  # the review SLA expired


class ExtractionResult(Wire):
    workflow_id: str
    doc_id: str
    filename: str
    outcome: ExtractionOutcome
    reasons: list[str] = Field(default_factory=list)
    rejection: str | None = None  # why the document could not be read
    fields: InvoiceExtraction | None = None  # the final values
    proposed: InvoiceExtraction | None = None  # the machine's, before review
    findings: list[CheckFinding] = Field(default_factory=list)
    in_doubt: dict[str, str] = Field(default_factory=dict)
    deltas: list[FieldDelta] = Field(default_factory=list)
    reviewer: str | None = None
    duplicate_of: str | None = None
    document: IngestedDocument | None = None
    cost_usd: float = 0.0
    model_calls: int = 0
    latency_ms: float = 0.0
    steps: list[StepRecord] = Field(default_factory=list)


class ExtractionState(Wire):
    """The `status` query."""

    workflow_id: str
    doc_id: str
    stage: str
    document: IngestedDocument | None = None
    extraction: InvoiceExtraction | None = None
    findings: list[CheckFinding] = Field(default_factory=list)
    in_doubt: dict[str, str] = Field(default_factory=dict)
    needs_review: bool = False
    review: FieldReviewRequest | None = None
    partial_output: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    cost_usd: float = 0.0
    result: ExtractionResult | None = None
    model_wait: ModelWait | None = None


EXTRACTION_OUTPUTS: dict[str, type[BaseModel]] = {"InvoiceExtraction": InvoiceExtraction}
