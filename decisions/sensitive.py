"""Sensitive values in text: payment card numbers (Luhn), IBANs (mod 97), US Social Security
numbers and credentials (API keys, tokens, passwords, private keys), found and masked.

One detector for everything that must not keep such values: QA of a drafted reply
(workflows/qa.py) rejects them, and the store (activities/store.py, the response log, the
review tables) and the logs mask them before anything is written. Pure: stdlib `re` only,
so workflow code may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A credential value: has a digit or symbol, or is the last word on its line, so that
# "to change your password: open Settings" is not taken for a leaked password.
_VALUE = r"[ \t]*[:=][ \t]*(?:\S*[\d!@#$%^&*_+=~/\\|-]\S*|\S+(?=[ \t]*$))"
_PASSWORD = r"\b(?:password|passwort|mot de passe|contraseña)"
SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("an OpenAI-style API key", re.compile(r"(?<![\w-])sk-[A-Za-z0-9_-]{16,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pos]_[A-Za-z0-9]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("a password", re.compile(_PASSWORD + _VALUE, re.I | re.M)),
    ("an API key", re.compile(r"\bapi[_-]?key" + _VALUE, re.I | re.M)),
]
# Digit runs grouped by single spaces or dashes, never starting inside a longer run or word
# (so an IBAN's digit groups are not read again as a card number).
CARD = re.compile(r"(?<!\w)(?<!\d[ -])\d(?:[ -]?\d)++(?!\w)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
# A private key's body, not only its header line, is masked
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)


@dataclass(frozen=True)
class Found:
    kind: str  # "card", "iban", "ssn", "secret"
    start: int
    end: int
    label: str  # for messages: "a payment card number ending 4242", "an AWS access key"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def valid_iban(candidate: str) -> str | None:
    """The compact IBAN if its checksum holds, dropping trailing groups such as " EUR"."""
    groups = candidate.split(" ")
    for end in range(len(groups), 0, -1):
        iban = "".join(groups[:end])
        rearranged = iban[4:] + iban[:4]
        digits = "".join(str(int(c, 36)) for c in rearranged)
        if 15 <= len(iban) <= 34 and int(digits) % 97 == 1:
            return iban
    return None


def cards(text: str) -> list[Found]:
    found = []
    for m in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
            label = f"a payment card number ending {digits[-4:]}"
            found.append(Found("card", m.start(), m.end(), label))
    return found


def ibans(text: str) -> list[Found]:
    found = []
    for m in IBAN.finditer(text):
        if iban := valid_iban(m.group()):
            # only the groups the checksum covers, not a trailing " EUR"
            end = m.start() + _span_of(m.group(), iban)
            found.append(Found("iban", m.start(), end, f"an IBAN ending {iban[-4:]}"))
    return found


def _span_of(candidate: str, compact: str) -> int:
    taken = 0
    for i, ch in enumerate(candidate):
        if ch != " ":
            taken += 1
            if taken == len(compact):
                return i + 1
    return len(candidate)


def secrets(text: str) -> list[Found]:
    found = []
    for label, pattern in SECRET_PATTERNS:
        for m in pattern.finditer(text):
            found.append(Found("secret", m.start(), m.end(), label))
    for m in _PRIVATE_KEY_BLOCK.finditer(text):
        found.append(Found("secret", m.start(), m.end(), "a private key"))
    return found


def find(text: str) -> list[Found]:
    """Every sensitive value in `text`, in order of position (overlaps kept)."""
    found = cards(text) + ibans(text) + secrets(text)
    found += [
        Found("ssn", m.start(), m.end(), "a Social Security number") for m in SSN.finditer(text)
    ]
    return sorted(found, key=lambda f: (f.start, -f.end))


_MASKS = {
    "card": lambda t: f"[card ending {re.sub(r'[ -]', '', t)[-4:]}]",
    "iban": lambda t: f"[IBAN ending {t.replace(' ', '')[-4:]}]",
    "ssn": lambda _t: "[SSN]",
    "secret": lambda _t: "[secret]",
}


def mask(text: str) -> str:
    """`text` with every sensitive value replaced by a mask that keeps no more than a card's
    or an IBAN's last four characters. Text without any comes back as the same object."""
    if not text or not any(ch.isdigit() or ch in "-=:" for ch in text):
        return text
    spans = find(text)
    if not spans:
        return text
    out, at = [], 0
    for f in spans:
        if f.start < at:  # inside a span already masked
            continue
        out += [text[at : f.start], _MASKS[f.kind](text[f.start : f.end])]
        at = f.end
    out.append(text[at:])
    return "".join(out)


def mask_data(value: object) -> object:
    """`mask` applied to every string in a JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v) for v in value]
    return value
