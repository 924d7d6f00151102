"""A generated invoice corpus for the extraction workflow, with its ground truth.

`generate(folder, n, seed)` writes invoices as real PDFs (fpdf2), e-mails (inline text or
a PDF attachment), HTML and plain text; some messy (odd spacing, European number format
with German labels, a missing due date and vendor label, a rotated "scanned-looking"
page with noisy labels, "Total excl. VAT" before the total), some malformed (a truncated
PDF, an empty file, bytes that are no PDF), and `<folder>-truth.jsonl` beside it: one
line per file with the expected outcome and fields. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Any

from fpdf import FPDF

VENDORS = ["ACME Tools GmbH", "Northwind Supplies Ltd", "Blue Harbor Consulting", "Kite & Co"]
ITEMS = ["Hammer", "Cable set", "Consulting hours", "Desk lamp", "Printer paper", "Support plan"]
CURRENCIES = ["EUR", "USD", "GBP", "CHF"]
STYLES = [
    "pdf",
    "pdf-excl",
    "pdf-eu",
    "pdf-missing",
    "pdf-scanned",
    "eml",
    "eml-pdf",
    "html",
    "txt",
]
MALFORMED = ["truncated.pdf", "empty.txt", "garbage.pdf"]


def invoice(rng: random.Random, i: int) -> dict[str, Any]:
    issued = date(2024, 1, 1) + timedelta(days=rng.randrange(330))
    lines = []
    for _ in range(rng.randint(1, 4)):
        q, u = rng.randint(1, 9), round(rng.uniform(5, 1500), 2)
        lines.append(
            {
                "description": rng.choice(ITEMS),
                "quantity": q,
                "unit_price": u,
                "amount": round(q * u, 2),
            }
        )
    subtotal = round(sum(li["amount"] for li in lines), 2)
    rate = rng.choice([0, 7, 19, 20])
    tax = round(subtotal * rate / 100, 2)
    return {
        "vendor": rng.choice(VENDORS),
        "invoice_number": f"INV-{2024}-{i:04d}",
        "invoice_date": issued.isoformat(),
        "due_date": (issued + timedelta(days=rng.choice([14, 30]))).isoformat(),
        "currency": rng.choice(CURRENCIES),
        "line_items": lines,
        "subtotal": subtotal,
        "tax": tax,
        "total": round(subtotal + tax, 2),
        "rate": rate,
    }


def money(v: float, eu: bool) -> str:
    s = f"{v:,.2f}"
    return s.replace(",", "X").replace(".", ",").replace("X", ".") if eu else s


def lines_of(inv: dict[str, Any], style: str) -> list[str]:
    """The invoice as text lines, in the style's wording and number format."""
    eu, cur = style == "pdf-eu", inv["currency"]
    d_issue, d_due = date.fromisoformat(inv["invoice_date"]), date.fromisoformat(inv["due_date"])
    fmt = (lambda d: d.strftime("%d.%m.%Y")) if eu else (lambda d: d.strftime("%d %B %Y"))
    if eu:
        head = [
            f"Lieferant: {inv['vendor']}",
            "Rechnung",
            f"Rechnungsnummer: {inv['invoice_number']}",
            f"Rechnungsdatum: {fmt(d_issue)}",
            f"Fällig am: {fmt(d_due)}",
        ]
    else:
        head = [
            f"From: {inv['vendor']}",
            "Invoice",
            f"Invoice No: {inv['invoice_number']}",
            f"Invoice date: {fmt(d_issue)}",
            f"Due date: {fmt(d_due)}",
        ]
    if style == "pdf-missing":
        head = [inv["vendor"], *head[1:4]]  # no vendor label, no due date
    rows = ["Description   Qty   Unit price   Amount"] + [
        f"{li['description']}   {li['quantity']}   {money(li['unit_price'], eu)}   "
        f"{money(li['amount'], eu)}"
        for li in inv["line_items"]
    ]
    sub_label = {"pdf-eu": "Zwischensumme", "pdf-excl": "Total excl. VAT"}.get(style, "Subtotal")
    tail = [
        f"{sub_label}: {money(inv['subtotal'], eu)} {cur}",
        f"{'MwSt' if eu else 'VAT'} {inv['rate']}%: {money(inv['tax'], eu)} {cur}",
        f"{'Gesamtbetrag' if eu else 'Total'}: {money(inv['total'], eu)} {cur}",
    ]
    out = [*head, "", *rows, "", *tail]
    if style == "pdf-scanned":  # a poor scan: letter-spaced labels, O for 0 in the number
        out = [ln.replace("Total", "T o t a l").replace("Invoice No", "lnvoice N0") for ln in out]
    if style == "txt":
        out = [ln.replace(": ", ":     ") for ln in out]  # odd spacing
    return out


def pdf_bytes(lines: list[str], rotated: bool = False) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    with pdf.rotation(angle=1.5 if rotated else 0, x=100, y=140):
        for line in lines:
            pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def html_bytes(lines: list[str], inv: dict[str, Any]) -> bytes:
    rows = "".join(
        f"<tr><td>{escape(li['description'])}</td><td>{li['quantity']}</td>"
        f"<td>{li['unit_price']:.2f}</td><td>{li['amount']:.2f}</td></tr>"
        for li in inv["line_items"]
    )
    head = "".join(f"<p>{escape(ln)}</p>" for ln in lines[:5])
    tail = "".join(f"<div>{escape(ln)}</div>" for ln in lines[-3:])
    return (
        "<html><head><style>p{color:red}</style><script>var total='999.99';</script></head>"
        f"<body>{head}<table><tr><th>Description</th><th>Qty</th></tr>{rows}</table>{tail}"
        "</body></html>"
    ).encode()


def eml_bytes(lines: list[str], inv: dict[str, Any], attach: bool) -> bytes:
    msg = EmailMessage()
    msg["From"] = "billing@example.com"
    msg["To"] = "ap@example.org"
    msg["Subject"] = f"Your invoice {inv['invoice_number']}"
    if attach:
        msg.set_content("Dear customer,\nplease find your invoice attached.\nKind regards")
        msg.add_attachment(
            pdf_bytes(lines),
            maintype="application",
            subtype="pdf",
            filename=f"{inv['invoice_number']}.pdf",
        )
    else:
        msg.set_content("\n".join(lines))
    return bytes(msg)


def render(inv: dict[str, Any], style: str) -> tuple[str, bytes]:
    lines = lines_of(inv, style)
    if style.startswith("pdf"):
        return "pdf", pdf_bytes(lines, rotated=style == "pdf-scanned")
    if style.startswith("eml"):
        return "eml", eml_bytes(lines, inv, attach=style == "eml-pdf")
    if style == "html":
        return "html", html_bytes(lines, inv)
    return "txt", "\n".join(lines).encode()


def truth_fields(inv: dict[str, Any], style: str) -> dict[str, Any]:
    fields = {k: v for k, v in inv.items() if k != "rate"}
    if style == "pdf-missing":
        fields["due_date"] = None
    return fields


def generate(folder: Path, n: int = 27, seed: int = 7) -> list[dict[str, Any]]:
    """Write `n` invoices (the styles in turn) and the malformed files; returns the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    truth = []
    for i in range(n):
        style = STYLES[i % len(STYLES)]
        inv = invoice(rng, i)
        ext, data = render(inv, style)
        name = f"{i:03d}-{style}.{ext}"
        (folder / name).write_bytes(data)
        truth.append(
            {
                "file": name,
                "style": style,
                "expect": "extracted",
                "fields": truth_fields(inv, style),
            }
        )
    good = pdf_bytes(lines_of(invoice(rng, 999), "pdf"))
    broken = {"truncated.pdf": good[:200], "empty.txt": b"", "garbage.pdf": bytes(range(256)) * 4}
    for name in MALFORMED:
        (folder / name).write_bytes(broken[name])
        truth.append({"file": name, "style": "malformed", "expect": "rejected", "fields": None})
    with truth_path(folder).open("w") as f:
        for row in truth:
            f.write(json.dumps(row) + "\n")
    return truth


def truth_path(folder: Path) -> Path:
    """Beside the corpus, not in it: every file in the folder is a document to read."""
    return folder.with_name(folder.name + "-truth.jsonl")


def demo_folder(state_dir: Path) -> list[Path]:
    """`aiflow demo --workflow documents`: the default corpus, written once under the
    state folder (the same seed gives the same files, so a rerun processes nothing twice)."""
    folder = state_dir / "demo-documents"
    if not truth_path(folder).exists():
        generate(folder)
    return [folder]
