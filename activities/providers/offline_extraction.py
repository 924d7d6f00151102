"""The offline provider's answers for the extraction workflow's tasks: a deterministic,
regex-and-heuristics invoice extractor over the document text (en/de/fr/es labels). It
reads only the request's variables, never any ground truth.

Confidence is honest: a labelled, parsed value is sure (0.95); a value taken from a
fallback (the first line as vendor, a currency symbol, a total computed from subtotal
and tax), an ambiguous date or conflicting candidates is not; a label found whose value
does not parse gives no value and a low confidence.

Deliberate model-like mistake, so the workflow's re-ask has something to fix: on a first
attempt (no `check_feedback`) the total is the FIRST line starting with "total" (which may
be "Total excl. VAT"); with feedback that names the total, the last such line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from decisions.extraction_checks import (
    CURRENCIES,
    currency_of,
    parse_amount,
    parse_date,
)

EXTRACT_TASK = "extract.invoice"
SURE, FALLBACK, AMBIGUOUS, UNPARSED, ABSENT = 0.95, 0.55, 0.5, 0.2, 0.9

_NUMBER_LABEL = re.compile(
    r"(?:invoice\s*(?:no\.?|number|nr\.?|#)|rechnungs-?\s*(?:nummer|nr\.?)|facture\s*n[°o]\.?"
    r"|factura\s*n[°oº]\.?|inv\s*#)\s*[:#]?\s*([A-Z0-9][A-Z0-9\-/]{2,30})",
    re.IGNORECASE,
)
_LABELS = {
    "invoice_date": r"invoice\s*date|date\s*of\s*issue|issue\s*date|rechnungsdatum"
    r"|date\s*de\s*facture|fecha\s*de\s*factura|fecha|date",
    "due_date": r"due\s*date|payment\s*due|due|fälligkeitsdatum|fällig\s*am|zahlbar\s*bis"
    r"|échéance|date\s*d'échéance|vencimiento|fecha\s*de\s*vencimiento",
    "vendor": r"from|vendor|supplier|seller|lieferant|fournisseur|proveedor|emisor",
    "subtotal": r"sub-?\s*total|net\s*amount|total\s*excl\.?[^:\d]*|zwischensumme|nettobetrag"
    r"|summe\s*netto|sous-total|total\s*ht|base\s*imponible",
    "tax": r"tax|vat|sales\s*tax|mwst\.?|ust\.?|tva|iva",
    "total": r"total|grand\s*total|amount\s*due|total\s*due|gesamtbetrag|gesamt"
    r"|rechnungsbetrag|total\s*ttc|importe\s*total|total\s*a\s*pagar",
}
_LINE_RE = {
    name: re.compile(rf"^(?:{pattern})\b\s*(.*)$", re.IGNORECASE)
    for name, pattern in _LABELS.items()
}
_NUM_TOKEN = re.compile(r"^[€$£]?[-−]?\d[\d.,']*$")
_NOT_ITEM = re.compile(
    r"^(?:sub|total|tax|vat|mwst|ust|tva|iva|summe|zwischen|netto|gesamt|amount|balance|tel"
    r"|phone|iban|bic|page)",
    re.IGNORECASE,
)


def _amount_in(rest: str) -> float | None:
    """The last amount on a labelled line (a rate like "20%" is not one)."""
    tokens = [t.strip(":()") for t in re.split(r"[\s:]+", rest)]
    values = [t for t in tokens if t and not t.endswith("%") and re.search(r"\d", t)]
    for token in reversed(values):
        value = parse_amount(token.strip("€$£"))
        if value is not None:
            return value
    return None


def _labelled(lines: list[str], name: str, skip: tuple[str, ...] = ()) -> list[str]:
    """What follows the label `name` on each line that starts with it (a line that starts
    with a label in `skip` is not one of them)."""
    out = []
    for line in lines:
        if any(_LINE_RE[other].match(line) for other in skip):
            continue
        m = _LINE_RE[name].match(line)
        if m and not (name == "total" and re.match(r"(?i)sub", line)):
            out.append(re.sub(r"^[\s:#.]+", "", m.group(1)).strip())
    return out


def _line_items(lines: list[str]) -> tuple[list[dict], float]:
    items, consistent = [], 0
    for line in lines:
        tokens = line.split()
        if len(tokens) < 4 or _NOT_ITEM.match(line):
            continue
        tail = [t for t in tokens[-4:] if t.upper() not in CURRENCIES and t not in "€$£x×"]
        tail = tail[-3:]
        if len(tail) < 3 or not all(_NUM_TOKEN.match(t) for t in tail):
            continue
        desc = line[: line.index(tail[0])].strip(" -:|")
        if not re.search(r"[^\W\d_]", desc):
            continue
        q, u, a = (parse_amount(t.strip("€$£")) for t in tail)
        items.append({"description": desc[:500], "quantity": q, "unit_price": u, "amount": a})
        if None not in (q, u, a) and abs(round(q * u, 2) - a) <= 0.011:  # type: ignore[operator]
            consistent += 1
    if not items:
        return [], AMBIGUOUS
    return items, 0.9 if consistent == len(items) else FALLBACK


def _one(candidates: list, sure: float = SURE) -> tuple[Any, float]:
    """The value of the first candidate; less sure when the candidates disagree."""
    found = [c for c in candidates if c is not None]
    if not found:
        return None, UNPARSED if candidates else ABSENT
    return found[0], sure if len(set(map(str, found))) == 1 else 0.6


def extract_invoice(variables: dict[str, Any]) -> dict[str, Any]:
    text = str(variables.get("text") or "")
    feedback = " ".join(variables.get("check_feedback") or [])
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    conf: dict[str, float] = {}
    out: dict[str, Any] = {}

    numbers = [m.group(1) for m in _NUMBER_LABEL.finditer(text)]
    out["invoice_number"], conf["invoice_number"] = _one(numbers)
    if out["invoice_number"] is None:
        conf["invoice_number"] = 0.0

    for name, skip in (("invoice_date", ("due_date",)), ("due_date", ())):
        parsed = [parse_date(r) for r in _labelled(lines, name, skip)]
        value, c = _one([d for d, _ in parsed])
        if value is not None and any(amb for d, amb in parsed if d == value):
            c = min(c, AMBIGUOUS)
        out[name], conf[name] = (value.isoformat() if value else None), c
    if out["invoice_date"] is None:
        conf["invoice_date"] = 0.0

    vendors = _labelled(lines, "vendor")
    if vendors:
        out["vendor"], conf["vendor"] = vendors[0][:300], SURE
    else:
        first = next((ln for ln in lines if not re.match(r"(?i)subject:|invoice|rechnung", ln)), "")
        out["vendor"], conf["vendor"] = (first[:300] or None), FALLBACK if first else 0.0

    code, guessed = currency_of(text)
    codes = Counter(c for c in re.findall(r"\b[A-Z]{3}\b", text) if c in CURRENCIES)
    out["currency"] = code
    conf["currency"] = 0.0 if code is None else FALLBACK if guessed or len(codes) > 1 else SURE

    for name in ("subtotal", "tax"):
        value, c = _one([_amount_in(r) for r in _labelled(lines, name)])
        out[name], conf[name] = value, c
    labelled = [(r, _amount_in(r)) for r in _labelled(lines, "total")]
    totals = [v for _, v in labelled if v is not None]
    grand = [v for r, v in labelled if v is not None and not re.match(r"(?i)excl|net|ht\b", r)]
    if totals:
        pick = (grand or totals)[-1] if "total" in feedback else totals[0]
        out["total"], conf["total"] = pick, SURE if len(set(totals)) == 1 else 0.85
    elif out["subtotal"] is not None and out["tax"] is not None:
        out["total"], conf["total"] = round(out["subtotal"] + out["tax"], 2), FALLBACK
    else:
        out["total"], conf["total"] = None, 0.0

    out["line_items"], conf["line_items"] = _line_items(lines)
    out["field_confidence"] = conf
    unsure = sorted(k for k, v in conf.items() if v < 0.8)
    out["reasoning"] = f"labelled fields parsed; unsure: {', '.join(unsure) or 'none'}"
    return out


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {EXTRACT_TASK: extract_invoice}
