"""Pure checks and normalisation for extracted invoices: amounts and dates as people write
them, cross-field arithmetic, and which fields are in doubt. Deterministic; imports only
the standard library and contracts, so workflows, activities and the offline provider
share it."""

from __future__ import annotations

import re
from datetime import date

from contracts.extraction import INVOICE_FIELDS, CheckFinding, InvoiceExtraction

TOLERANCE = 0.01  # of money arithmetic: cents round
REQUIRED = ("vendor", "invoice_number", "invoice_date", "currency", "total")
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)
CURRENCIES = frozenset(
    "AED AUD BGN BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR ILS INR ISK JPY KRW MXN MYR "
    "NOK NZD PHP PLN RON SEK SGD THB TRY USD ZAR".split()
)
SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD", "¥": "JPY", "₹": "INR", "CHF": "CHF"}
MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            "jan january januar janvier enero",
            "feb february februar février febrero",
            "mar march märz mars marzo",
            "apr april avril abril",
            "may mai mayo",
            "jun june juni juin junio",
            "jul july juli juillet julio",
            "aug august août agosto",
            "sep sept september septembre septiembre",
            "oct october oktober octobre octubre",
            "nov november novembre noviembre",
            "dec december dezember décembre diciembre",
        ]
    )
    for m in names.split()
}

_AMOUNT = re.compile(r"[-−]?\d[\d.,'’ \u00a0]*")


def parse_amount(text: str | None) -> float | None:
    """ "1.234,50", "$1,234.50", "1 234,50 €", "EUR 99" -> float; None when no number.
    The last separator followed by exactly 1-2 digits is the decimal mark."""
    if not text:
        return None
    found = _AMOUNT.search(text.replace("\u2009", " "))
    if not found:
        return None
    raw = found.group().strip().replace("−", "-")
    negative = raw.startswith("-")
    digits = re.sub(r"[^\d.,]", "", raw)
    m = re.search(r"[.,](\d{1,2})$", digits)
    if m:
        whole = re.sub(r"[.,]", "", digits[: m.start()])
        value = float(f"{whole or 0}.{m.group(1)}")
    else:
        value = float(re.sub(r"[.,]", "", digits) or 0)
    return round(-value if negative else value, 2)


def parse_date(text: str | None) -> tuple[date | None, bool]:
    """(the date, ambiguous?) of "2024-03-05", "05.03.2024", "5 March 2024", "March 5,
    2024", "03/05/2024" (day first unless impossible: ambiguous when both could be)."""
    if not text:
        return None, False
    t = text.strip().lower()
    try:
        if m := re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", t):
            return date(int(m[1]), int(m[2]), int(m[3])), False
        if m := re.search(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b", t):
            return date(int(m[3]), int(m[2]), int(m[1])), False
        if m := re.search(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", t):
            a, b, y = int(m[1]), int(m[2]), int(m[3])
            if a > 12:
                return date(y, b, a), False
            if b > 12:
                return date(y, a, b), False
            return date(y, b, a), a != b
        if m := re.search(r"\b(\d{1,2})\.?\s+([a-zäéû]{3,9})\.?,?\s+(\d{4})\b", t):
            if m[2] in MONTHS:
                return date(int(m[3]), MONTHS[m[2]], int(m[1])), False
        if m := re.search(r"\b([a-zäéû]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b", t):
            if m[1] in MONTHS:
                return date(int(m[3]), MONTHS[m[1]], int(m[2])), False
    except ValueError:  # 31.02.2024
        return None, False
    return None, False


def currency_of(text: str | None) -> tuple[str | None, bool]:
    """(ISO code, guessed?): a listed code wins; a symbol is a guess ($ is many dollars)."""
    if not text:
        return None, False
    for code in re.findall(r"\b[A-Z]{3}\b", text):
        if code in CURRENCIES:
            return code, False
    for symbol, code in SYMBOLS.items():
        if symbol in text:
            return code, True
    return None, False


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE + 1e-9


def check_invoice(x: InvoiceExtraction) -> list[CheckFinding]:
    """Every failed cross-field check of an extraction (empty: all pass)."""
    out: list[CheckFinding] = []
    missing = [f for f in REQUIRED if getattr(x, f) in (None, "")]
    if missing:
        out.append(CheckFinding(check="required", message=f"missing {missing}", fields=missing))
    if x.currency is not None and x.currency not in CURRENCIES:
        out.append(
            CheckFinding(
                check="currency", message=f"{x.currency!r} is not ISO 4217", fields=["currency"]
            )
        )
    for name in ("invoice_date", "due_date"):
        d = getattr(x, name)
        if d is not None and not EARLIEST <= d <= LATEST:
            out.append(CheckFinding(check="date_range", message=f"{name} {d}", fields=[name]))
    if x.invoice_date and x.due_date and x.due_date < x.invoice_date:
        out.append(
            CheckFinding(
                check="date_order",
                message=f"due {x.due_date} before invoice date {x.invoice_date}",
                fields=["invoice_date", "due_date"],
            )
        )
    for i, li in enumerate(x.line_items, 1):
        if None not in (li.quantity, li.unit_price, li.amount):
            if not _near(round(li.quantity * li.unit_price, 2), li.amount):  # type: ignore[operator]
                out.append(
                    CheckFinding(
                        check="line_amount",
                        message=f"line {i}: {li.quantity} x {li.unit_price} != {li.amount}",
                        fields=["line_items"],
                    )
                )
    lines = [li.amount for li in x.line_items]
    if lines and None not in lines:
        total_lines = round(sum(lines), 2)  # type: ignore[arg-type]
        if x.subtotal is not None and not _near(total_lines, x.subtotal):
            out.append(
                CheckFinding(
                    check="lines_subtotal",
                    message=f"line items sum to {total_lines}, subtotal is {x.subtotal}",
                    fields=["line_items", "subtotal"],
                )
            )
        elif x.subtotal is None and x.tax is None and x.total is not None:
            if not _near(total_lines, x.total):
                out.append(
                    CheckFinding(
                        check="lines_total",
                        message=f"line items sum to {total_lines}, total is {x.total}",
                        fields=["line_items", "total"],
                    )
                )
    if None not in (x.subtotal, x.tax, x.total):
        if not _near(round(x.subtotal + x.tax, 2), x.total):  # type: ignore[operator]
            out.append(
                CheckFinding(
                    check="tax_arithmetic",
                    message=f"subtotal {x.subtotal} + tax {x.tax} != total {x.total}",
                    fields=["subtotal", "tax", "total"],
                )
            )
    for name in ("subtotal", "tax", "total"):
        v = getattr(x, name)
        if v is not None and v < 0:
            out.append(CheckFinding(check="negative", message=f"{name} {v} < 0", fields=[name]))
    return out


def fields_in_doubt(
    x: InvoiceExtraction, findings: list[CheckFinding], threshold: float
) -> dict[str, str]:
    """Field -> why a person should look: named by a failed check, or below `threshold`
    confidence (a field the model reported no confidence for counts as unsure)."""
    doubt: dict[str, str] = {}
    for f in findings:
        for name in f.fields:
            doubt.setdefault(name, f"check:{f.check}")
    for name in INVOICE_FIELDS:
        conf = x.field_confidence.get(name, 0.0)
        if name not in doubt and conf < threshold:
            doubt[name] = f"confidence {conf:.2f} < {threshold:.2f}"
    return doubt


def feedback_lines(findings: list[CheckFinding]) -> list[str]:
    """The findings as lines for the re-ask prompt."""
    return [f"{f.check}: {f.message} (fields: {', '.join(f.fields)})" for f in findings]


def review_fields(x: InvoiceExtraction) -> dict:
    """The proposal as a reviewer sees it: the invoice fields as JSON values."""
    return x.model_dump(mode="json", include=set(INVOICE_FIELDS))
