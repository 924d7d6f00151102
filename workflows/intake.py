"""Ticket intake: validate a raw `Ticket` and normalise it into a `NormalizedTicket`.

Pure and deterministic: it runs inside the workflow sandbox, so stdlib text tools only.

Normalisation of free text (body):
  * `\\r\\n`, `\\r`, U+2028 and U+2029 become `\\n`;
  * control and format characters (categories Cc, Cf, and lone surrogates Cs) are
    dropped, except `\\n` and `\\t`; other Unicode spaces (Zs, e.g. NBSP) become " ";
  * Unicode NFC;
  * runs of spaces/tabs become one space, each line is trimmed, three or more
    newlines (two or more blank lines) become one blank line, the whole is trimmed.
Single-line fields (subject, name, channel, tier, language, metadata) get the same
character cleaning with every whitespace run, newlines included, folded to one space.

All problems are collected, in this order: ticket_id, customer_email, body, channel,
customer_tier, language.
"""

from __future__ import annotations

import re
import unicodedata

from contracts import NormalizedTicket, Rejection, Ticket

CHANNELS = ("chat", "email", "phone", "web")
TIERS = ("enterprise", "free", "pro", "vip")
DEFAULT_CHANNEL = "email"
DEFAULT_TIER = "free"
DEFAULT_SUBJECT = "(no subject)"
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 200
MAX_METADATA_KEYS = 20
MAX_METADATA_CHARS = 200  # for keys and values alike
MAX_EMAIL_CHARS = 254

# The ticket id becomes part of a workflow id: short, ASCII, no "/" or spaces.
TICKET_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# Deliberately simple and ASCII-only; applied to the lower-cased address.
EMAIL_RE = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]"
)
LANGUAGE_RE = re.compile(r"[a-z]{2}")

_LINE_BREAKS_RE = re.compile(r"\r\n?|[\u2028\u2029]")
_BLANKS_RE = re.compile(r"[ \t]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_WHITESPACE_RE = re.compile(r"\s+")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def validate_ticket(
    ticket: Ticket, max_body_chars: int
) -> tuple[NormalizedTicket | None, list[Rejection]]:
    """Return `(normalized, [])` for a valid ticket, else `(None, every rejection)`."""
    rejections: list[Rejection] = []

    if not ticket.ticket_id.strip():
        rejections.append(_missing("ticket_id"))
    elif not TICKET_ID_RE.fullmatch(ticket.ticket_id):
        rejections.append(
            Rejection(
                code="invalid_ticket_id",
                field="ticket_id",
                message=(
                    f"ticket_id {_show(ticket.ticket_id)} must be 1-64 letters, digits, "
                    "'.', '_', ':' or '-', starting with a letter or digit."
                ),
            )
        )

    email = (ticket.customer_email or "").strip().lower()
    if not email:
        rejections.append(_missing("customer_email"))
    elif len(email) > MAX_EMAIL_CHARS or not EMAIL_RE.fullmatch(email):
        rejections.append(
            Rejection(
                code="invalid_email",
                field="customer_email",
                message=f"customer_email {_show(email)} is not a valid email address.",
            )
        )

    body = normalize_text(ticket.body) if ticket.body is not None else ""
    size = max(ticket.body_chars or 0, len(body))
    too_long = size > max_body_chars
    if ticket.body is None and not too_long:
        rejections.append(_missing("body"))
    elif ticket.body is not None and not body:
        rejections.append(Rejection(code="empty_body", field="body", message="body is empty."))
    if too_long:
        rejections.append(
            Rejection(
                code="body_too_long",
                field="body",
                message=f"body has {size} characters; the limit is {max_body_chars}.",
            )
        )

    channel = normalize_line(ticket.channel or "").lower() or DEFAULT_CHANNEL
    if channel not in CHANNELS:
        rejections.append(_not_allowed("invalid_channel", "channel", channel, CHANNELS))

    tier = normalize_line(ticket.customer_tier or "").lower() or DEFAULT_TIER
    if tier not in TIERS:
        rejections.append(_not_allowed("invalid_tier", "customer_tier", tier, TIERS))

    language = normalize_line(ticket.language or "").lower() or None
    if language is not None and not LANGUAGE_RE.fullmatch(language):
        rejections.append(
            Rejection(
                code="invalid_language",
                field="language",
                message=f"language {_show(language)} must be a two-letter code like 'en'.",
            )
        )

    if rejections:
        return None, rejections

    subject = normalize_line(ticket.subject or "") or DEFAULT_SUBJECT
    name = normalize_line(ticket.customer_name or "")[:MAX_NAME_CHARS].rstrip()
    return (
        NormalizedTicket(
            ticket_id=ticket.ticket_id,
            subject=subject[:MAX_SUBJECT_CHARS].rstrip(),
            body=body,
            customer_email=email,
            customer_name=name or None,
            channel=channel,
            customer_tier=tier,
            language=language,
            metadata=_normalize_metadata(ticket.metadata),
        ),
        [],
    )


def normalize_text(text: str) -> str:
    """Clean multi-line free text as described in the module docstring."""
    text = unicodedata.normalize("NFC", _clean_chars(text))
    lines = (_BLANKS_RE.sub(" ", line).strip(" ") for line in text.split("\n"))
    return _MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()


def normalize_line(text: str) -> str:
    """Clean a single-line field: every whitespace run, newlines included, is one space."""
    text = unicodedata.normalize("NFC", _clean_chars(text))
    return _WHITESPACE_RE.sub(" ", text).strip()


def _clean_chars(text: str) -> str:
    text = _LINE_BREAKS_RE.sub("\n", text)
    kept: list[str] = []
    for ch in text:
        if ch == "\n" or ch == "\t":
            kept.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in _DROPPED_CATEGORIES:
            continue
        kept.append(" " if category == "Zs" else ch)
    return "".join(kept)


def _normalize_metadata(metadata: dict[str, str]) -> dict[str, str]:
    # First occurrence wins when two raw keys clean to the same key; extra keys are dropped.
    cleaned: dict[str, str] = {}
    for raw_key, raw_value in metadata.items():
        key = normalize_line(raw_key)[:MAX_METADATA_CHARS].rstrip()
        if not key or key in cleaned:
            continue
        if len(cleaned) == MAX_METADATA_KEYS:
            break
        cleaned[key] = normalize_line(raw_value)[:MAX_METADATA_CHARS].rstrip()
    return cleaned


def _missing(field: str) -> Rejection:
    return Rejection(code="missing_field", field=field, message=f"{field} is required.")


def _not_allowed(code: str, field: str, value: str, allowed: tuple[str, ...]) -> Rejection:
    return Rejection(
        code=code,
        field=field,
        message=f"{field} {_show(value)} is not one of {', '.join(allowed)}.",
    )


def _show(value: str) -> str:
    # Rejections travel in history and the UI: quote untrusted values, and keep them short.
    return repr(value if len(value) <= 40 else value[:40] + "...")
