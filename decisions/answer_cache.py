"""Answer-cache decisions, shared by workflows and activities: what a cached answer is
keyed on, how customer data is taken out of it (a template with slots) and put back for
the current item, and the entity guard that refuses an answer carrying someone else's.

A cached answer never holds a customer's values: names, e-mails, order and ticket ids,
amounts, dates and long numbers become slots (`{{order}}`), filled from the item being
served. What is left of the source item is a set of salted hashes of its values, so the
guard can tell a leaked value from a legitimate word without keeping the value itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from typing import Any

from contracts import ModelTarget, NormalizedTicket, PromptRef

# Slot patterns, most specific first; each match is a customer-specific value.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ORDER = re.compile(r"#\d{3,}\b|\b[A-Z]{2,5}-\d[\dA-Z-]{2,18}\b|\b[A-Z]{1,4}\d{5,}\b", re.UNICODE)
_AMOUNT = re.compile(
    r"(?:(?:[$€£]|\b(?:EUR|USD|GBP|CHF))\s?\d(?:[\d.,]*\d)?"
    r"|\d[\d.,]*\s?(?:€|EUR|USD|GBP|CHF|\$|£|euros?|dollars?|pounds?)(?!\w))",
    re.IGNORECASE,
)
# Parcel tracking numbers: UPS 1Z…, UPU S10 (two letters, nine digits, country).
_TRACKING = re.compile(r"\b1Z[0-9A-Z]{8,}\b|\b[A-Z]{2}\d{9}[A-Z]{2}\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b")
_NUMBER = re.compile(r"\b\d{4,}\b")
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", _EMAIL),
    ("tracking", _TRACKING),
    ("order", _ORDER),
    ("amount", _AMOUNT),
    ("date", _DATE),
    ("number", _NUMBER),
)
_SLOT = re.compile(r"\{\{([a-z_]+\d*)\}\}")
_WORD = re.compile(r"\w+", re.UNICODE)
HASH_SALT = "aiflow-cache-entity-v1"
MIN_NAME_PART = 3  # "Al" in a reply is not evidence of a leak


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def entity_hash(value: str) -> str:
    return hashlib.sha256(f"{HASH_SALT}:{value.casefold()}".encode()).hexdigest()[:16]


def item_slots(ticket: NormalizedTicket) -> dict[str, str]:
    """The item's customer-specific values by slot name: its own fields, then every
    pattern match in its subject and body (order, order_2, ...)."""
    slots: dict[str, str] = {"ticket_id": ticket.ticket_id, "email": ticket.customer_email}
    name = _norm(ticket.customer_name or "")
    if name:
        slots["name"] = name
        parts = [p for p in name.split() if len(p) >= MIN_NAME_PART]
        if parts:
            slots["first_name"] = parts[0]
        if len(parts) > 1:
            slots["last_name"] = parts[-1]
    seen = set(slots.values())
    text = f"{ticket.subject}\n{ticket.body}"
    for kind, pattern in PATTERNS:
        n = 0
        for m in pattern.finditer(text):
            value = m.group(0).strip()
            if value in seen or any(value in s for s in seen):
                continue
            n += 1
            name = kind if n == 1 else f"{kind}_{n}"
            slots[name] = value
            if value.startswith("#"):  # a reply may quote "48213" of "#48213"
                slots[f"{name}_bare"] = value[1:]
            seen.add(value)
    return slots


def _by_length(slots: dict[str, str]) -> list[tuple[str, str]]:
    return sorted(slots.items(), key=lambda kv: -len(kv[1]))


def mask(text: str, slots: dict[str, str], normalise: bool = True) -> str:
    """`text` with the item's values replaced by their slot markers, and any other
    pattern match by its kind (a question keyed on, never an order number); whitespace
    collapsed unless `normalise` is False (a reply keeps its paragraphs)."""
    out = _norm(text) if normalise else unicodedata.normalize("NFC", text)
    for name, value in _by_length(slots):
        if value:
            pattern = rf"(?<!\w){re.escape(value)}(?!\w)"
            out = re.sub(pattern, "{{" + name + "}}", out, flags=re.IGNORECASE)
    for kind, pattern in PATTERNS:
        out = pattern.sub("{{" + kind + "}}", out)
    return out


def question(ticket: NormalizedTicket, slots: dict[str, str]) -> str:
    """The masked, normalised question: what exact keys and embeddings are made of."""
    return mask(f"{ticket.subject}\n{ticket.body}", slots).casefold()


def templatize(output: dict[str, Any], slots: dict[str, str]) -> dict[str, Any]:
    """An answer made reusable: every item value in its text fields becomes a slot."""
    return {
        k: mask(v, slots, normalise=False) if isinstance(v, str) else v for k, v in output.items()
    }


def fill(output: dict[str, Any], slots: dict[str, str]) -> dict[str, Any] | None:
    """The template filled for the current item; None when a slot has no value here."""
    filled: dict[str, Any] = {}
    for k, v in output.items():
        if not isinstance(v, str):
            filled[k] = v
            continue
        missing = [s for s in _SLOT.findall(v) if not slots.get(s)]
        if missing:
            return None
        filled[k] = _SLOT.sub(lambda m: slots[m.group(1)], v)
    return filled


_SPECIFIC = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-ZÀ-Ý][\w'-]{2,}|\b\w*\d\w*\b", re.MULTILINE)


def specific_tokens(text: str) -> set[str]:
    """Words of an item's text that may be its own (a street, a town, a serial number):
    capitalised inside a sentence, or holding a digit."""
    return {t for t in _SPECIFIC.findall(text) if len(t) >= MIN_NAME_PART}


def source_hashes(slots: dict[str, str], source_text: str = "") -> list[str]:
    """What an entry keeps of its source item: hashes of its values, of their words and
    of its text's specific words (never the values themselves)."""
    tokens: set[str] = specific_tokens(source_text)
    for value in slots.values():
        tokens.add(value)
        tokens |= {w for w in _WORD.findall(value) if len(w) >= MIN_NAME_PART}
    return sorted(entity_hash(t) for t in tokens)


def foreign_values(
    text: str, slots: dict[str, str], source: list[str], own_text: str = ""
) -> list[str]:
    """Values in `text` that are not the current item's: a pattern match (e-mail, order
    id, amount, date, long number) or a specific word of the source item. Empty: safe."""
    own = {v.casefold() for v in slots.values()}
    own_words = {w.casefold() for v in [*slots.values(), own_text] for w in _WORD.findall(v)}
    found = []
    for kind, pattern in PATTERNS:
        for m in pattern.finditer(text):
            value = m.group(0).strip().casefold()
            if not any(value in v for v in own):  # "48213" of the item's own "#48213"
                found.append(kind)
    hashes = set(source)
    for w in _WORD.findall(text):
        if len(w) >= MIN_NAME_PART and w.casefold() not in own_words:
            if entity_hash(w) in hashes:
                found.append("source_value")
    return sorted(set(found))


@lru_cache(maxsize=64)
def schema_version(schema: type) -> str:
    """A model's JSON schema, hashed: an output shape change is a miss."""
    doc = json.dumps(schema.model_json_schema(), sort_keys=True)  # type: ignore[attr-defined]
    return hashlib.sha256(doc.encode()).hexdigest()[:12]


def fingerprint(
    step: str,
    prompt: PromptRef,
    schema: str,
    chain: list[ModelTarget],
    rules_version: str,
    extra: dict[str, Any] | None = None,
) -> str:
    """Everything an answer depends on besides the question: prompt id, version and
    content, output schema, model chain, rules version (and the step's own extras)."""
    doc = {
        "step": step,
        "prompt": [prompt.id, prompt.version, prompt.sha256],
        "schema": schema,
        "chain": [f"{t.provider}/{t.model}" for t in chain],
        "rules": rules_version,
        "extra": extra or {},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def exact_key(scope: str, text: str, inputs: dict[str, Any] | None = None) -> str:
    """The exact key: the scope, the masked question and the other inputs the prompt uses."""
    doc = json.dumps([scope, text, inputs or {}], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(doc.encode()).hexdigest()
