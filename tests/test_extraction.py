"""Pure parts of the extraction workflow: normalisation, cross-field checks, text
extraction from generated documents, and the offline extractor."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from activities.documents import MalformedDocument, chunks, extract_text, html_text, normalise
from activities.providers.offline_extraction import extract_invoice
from contracts.extraction import MEDIA_TYPES, CheckFinding, InvoiceExtraction, LineItem
from decisions.extraction_checks import (
    check_invoice,
    currency_of,
    feedback_lines,
    fields_in_doubt,
    parse_amount,
    parse_date,
)
from starter.doc_corpus import eml_bytes, generate, invoice, lines_of, pdf_bytes


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.234,50", 1234.5),
        ("$1,234.50", 1234.5),
        ("EUR 99", 99.0),
        ("1.234.567", 1234567.0),
        ("-5,5", -5.5),
        ("12", 12.0),
        ("none", None),
        (None, None),
    ],
)
def test_parse_amount(text, value):
    assert parse_amount(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2024-03-05", (date(2024, 3, 5), False)),
        ("05.03.2024", (date(2024, 3, 5), False)),
        ("5 March 2024", (date(2024, 3, 5), False)),
        ("March 5, 2024", (date(2024, 3, 5), False)),
        ("3. März 2024", (date(2024, 3, 3), False)),
        ("03/05/2024", (date(2024, 5, 3), True)),
        ("12/31/2024", (date(2024, 12, 31), False)),
        ("31.02.2024", (None, False)),
        ("soon", (None, False)),
    ],
)
def test_parse_date(text, value):
    assert parse_date(text) == value


def test_currency_codes_beat_symbols():
    assert currency_of("Total 5 CHF") == ("CHF", False)
    assert currency_of("Total €5") == ("EUR", True)
    assert currency_of("Total XYZ 5") == (None, False)


def good() -> InvoiceExtraction:
    return InvoiceExtraction(
        vendor="ACME",
        invoice_number="INV-1",
        invoice_date=date(2024, 3, 5),
        due_date=date(2024, 4, 4),
        currency="EUR",
        line_items=[LineItem(description="a", quantity=2, unit_price=1.5, amount=3.0)],
        subtotal=3.0,
        tax=0.57,
        total=3.57,
        field_confidence=dict.fromkeys(
            ["vendor", "invoice_number", "invoice_date", "due_date", "currency"]
            + ["line_items", "subtotal", "tax", "total"],
            0.95,
        ),
    )


def test_a_consistent_invoice_passes_every_check():
    assert check_invoice(good()) == []


def test_each_cross_field_check_names_its_fields():
    x = good().model_copy(
        update={
            "vendor": None,
            "currency": "EUX",
            "due_date": date(2024, 3, 1),
            "line_items": [LineItem(description="a", quantity=2, unit_price=1.5, amount=3.5)],
            "total": 4.0,
        }
    )
    assert [(f.check, f.fields) for f in check_invoice(x)] == [
        ("required", ["vendor"]),
        ("currency", ["currency"]),
        ("date_order", ["invoice_date", "due_date"]),
        ("line_amount", ["line_items"]),
        ("lines_subtotal", ["line_items", "subtotal"]),
        ("tax_arithmetic", ["subtotal", "tax", "total"]),
    ]


def test_a_cent_of_rounding_is_tolerated():
    assert check_invoice(good().model_copy(update={"total": 3.58})) == []
    assert [f.check for f in check_invoice(good().model_copy(update={"total": 3.59}))] == [
        "tax_arithmetic"
    ]


def test_fields_in_doubt_from_checks_and_confidence():
    x = good()
    x.field_confidence["vendor"] = 0.5
    del x.field_confidence["tax"]
    finding = CheckFinding(check="lines_total", message="m", fields=["total"])
    assert fields_in_doubt(x, [finding], 0.8) == {
        "total": "check:lines_total",
        "vendor": "confidence 0.50 < 0.80",
        "tax": "confidence 0.00 < 0.80",
    }
    assert feedback_lines([finding]) == ["lines_total: m (fields: total)"]


def test_html_drops_script_and_style():
    html = "<html><style>p{}</style><script>var x=1</script><p>Total</p><td>5</td></html>"
    assert normalise(html_text(html)) == "Total\n5"


def test_normalise_nfc_and_spacing():
    assert normalise("Cafe\u0301  \t bar\r\n\n\n\nx\x00y") == "Café bar\n\nx y"


def test_chunks_cover_long_texts():
    assert chunks(10) == [(0, 10)]
    assert chunks(20_000) == [(0, 8_000), (8_000, 16_000), (16_000, 20_000)]


def test_text_of_a_generated_pdf_and_an_email_with_it_attached():
    import random

    inv = invoice(random.Random(1), 1)
    lines = lines_of(inv, "pdf")
    text, pages, parts = extract_text(pdf_bytes(lines), "application/pdf")
    assert (text.splitlines()[:3], pages, parts) == (lines[:3], 1, ["body"])
    text, pages, parts = extract_text(eml_bytes(lines, inv, attach=True), "message/rfc822")
    assert (pages, parts) == (2, ["body", f"attachment:{inv['invoice_number']}.pdf"])
    assert text.splitlines()[0] == f"Subject: Your invoice {inv['invoice_number']}"
    assert f"Invoice No: {inv['invoice_number']}" in text.splitlines()


@pytest.mark.parametrize(
    ("data", "media_type", "message"),
    [
        (b"", "application/pdf", "empty file"),
        (b"hello", "application/pdf", "not a PDF: no %PDF header"),
        (b"tiny", "text/plain", "no text to extract (4 characters)"),
    ],
)
def test_malformed_originals(data, media_type, message):
    with pytest.raises(MalformedDocument) as err:
        extract_text(data, media_type)
    assert str(err.value) == message


def test_offline_extractor_on_the_generated_corpus(tmp_path: Path):
    """Every field of every well-formed style but the scanned one is read right; the
    scanned page's invoice number is missing and its total only computed, honestly
    reported as unsure."""
    truth = generate(tmp_path, n=9)
    for row in truth:
        path = tmp_path / row["file"]
        if row["expect"] == "rejected":
            with pytest.raises(MalformedDocument):
                extract_text(path.read_bytes(), MEDIA_TYPES[path.suffix])
            continue
        text, _, _ = extract_text(path.read_bytes(), MEDIA_TYPES[path.suffix])
        x = InvoiceExtraction.model_validate(extract_invoice({"text": text}))
        got = x.model_dump(mode="json", exclude={"field_confidence", "reasoning"})
        want = dict(row["fields"])
        if row["style"] == "pdf-scanned":
            assert (got["invoice_number"], x.field_confidence["invoice_number"]) == (None, 0.0)
            assert (got["total"], x.field_confidence["total"]) == (want["total"], 0.55)
            continue
        assert {k: got[k] for k in want} == want, row["file"]
