"""Ticket intake: validate a raw `Ticket` and normalise it into a `NormalizedTicket`.

Pure and deterministic: it runs inside the workflow sandbox, with stdlib text tools and
`workflows.mailtext` (passed through with its pinned libraries) for e-mail: HTML, replies
and addresses. Bounded time on any input: a field over its cap (`contracts.limits`) is
rejected by its length alone, before any cleaning; every regex runs in linear time; of a
body only the first SCAN_FACTOR * max_body_chars characters (MAX_HTML_CHARS of HTML) are
read.

A body is triaged on a bounded excerpt, never rejected for its length (below its cap):
  * HTML (`mailtext.looks_like_html`) is reduced to text, links kept as "[text](url)";
  * the text is normalised (below), then its new text is kept: quoted history and the
    signature of a reply are cut (`mailtext.split_reply`) and counted;
  * the first max_body_chars characters of that are the body; `body_excerpt` says whether
    it is less than the whole (the whole is then at `body_ref`, if the client stored it),
    `body_chars` the whole's length as the client sent it.

Normalisation of free text (body):
  * `\\r\\n`, `\\r`, U+2028 and U+2029 become `\\n`;
  * control and format characters (categories Cc, Cf, and lone surrogates Cs) are
    dropped, except `\\n` and `\\t`; other Unicode spaces (Zs, e.g. NBSP) become " ";
  * a run of more than 30 combining marks (Zalgo text) keeps its first 30: Unicode's
    stream-safe bound, and what keeps NFC linear (its mark sorting is quadratic in a run);
  * Unicode NFC;
  * runs of spaces/tabs become one space, each line is trimmed, three or more
    newlines (two or more blank lines) become one blank line, the whole is trimmed.
Single-line fields (subject, name, channel, tier, language, metadata) get the same
character cleaning with every whitespace run, newlines included, folded to one space.

Addresses: `addr`, `Name <addr>` and `"Name" <addr>` (the name becomes customer_name when
the ticket has none), UTF-8 local parts and internationalised domains; normalised as
`mailtext.parse_address` says. Channels: CHANNEL_ALIASES are read as the channel they name.

All problems are collected, in this order: fields over their cap (`field_too_long`, in
`Ticket` field order), then ticket_id, customer_email, body, channel, customer_tier,
language of the fields within their caps.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass

from contracts import NormalizedTicket, Rejection, Ticket
from contracts.limits import TICKET_ID_RE, TICKET_ID_RULE, over_limits
from workflows import mailtext

CHANNELS = ("chat", "email", "phone", "web")
# What clients call our channels (after lower-casing and folding spaces); nothing else is
# guessed: an unknown channel is rejected.
CHANNEL_ALIASES = {
    "e-mail": "email",
    "mail": "email",
    "web form": "web",
    "webform": "web",
    "web-form": "web",
    "form": "web",
    "telephone": "phone",
    "call": "phone",
    "live chat": "chat",
    "livechat": "chat",
}
TIERS = ("enterprise", "free", "pro", "vip")
DEFAULT_CHANNEL = "email"
DEFAULT_TIER = "free"
DEFAULT_SUBJECT = "(no subject)"
# What of a field within its cap is kept (longer values are cut, not rejected).
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 200
MAX_METADATA_KEYS = 20
MAX_METADATA_CHARS = 200  # for keys and values alike
MAX_MARKS = 30  # combining marks in a row (UAX #15 stream-safe text)
# Of a text body, this many times max_body_chars are read: room for what cleaning and the
# cut of quoted lines remove, without reading megabytes to keep 20,000 characters.
SCAN_FACTOR = 4
LANGUAGE_RE = re.compile(r"[a-z]{2}")

_LINE_BREAKS_RE = re.compile(r"\r\n?|[\u2028\u2029]")
_BLANKS_RE = re.compile(r"[ \t]+")
_LINE_EDGES_RE = re.compile(r" ?\n ?")  # after _BLANKS_RE: at most one space either side
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_WHITESPACE_RE = re.compile(r"\s+")
_ASCII_CONTROLS = {code: None for code in (*range(9), *range(11, 32), 127)}


def validate_ticket(
    ticket: Ticket, max_body_chars: int
) -> tuple[NormalizedTicket | None, list[Rejection]]:
    """Return `(normalized, [])` for a valid ticket, else `(None, every rejection)`."""
    rejections = [
        Rejection(code="field_too_long", field=field, message=f"{message}.")
        for field, message in over_limits(ticket)
    ]
    too_long = {r.field for r in rejections}

    if "ticket_id" in too_long:
        pass
    elif not ticket.ticket_id.strip():
        rejections.append(_missing("ticket_id"))
    elif not TICKET_ID_RE.fullmatch(ticket.ticket_id):
        rejections.append(
            Rejection(
                code="invalid_ticket_id",
                field="ticket_id",
                message=f"ticket_id {_show(ticket.ticket_id)} must be {TICKET_ID_RULE}.",
            )
        )

    email = display_name = ""
    raw_email = (ticket.customer_email or "").strip()
    if "customer_email" in too_long:
        pass
    elif not raw_email:
        rejections.append(_missing("customer_email"))
    else:
        try:
            email, display_name = mailtext.parse_address(raw_email)
        except mailtext.AddressError as err:
            rejections.append(
                Rejection(
                    code="invalid_email",
                    field="customer_email",
                    message=f"customer_email {_show(raw_email)} is not a valid email address: "
                    f"{err}",
                )
            )

    body = _Body("")
    if "body" not in too_long:
        body, problems = _body(ticket, max_body_chars)
        rejections += problems

    channel = _code(ticket.channel, "channel" in too_long) or DEFAULT_CHANNEL
    channel = CHANNEL_ALIASES.get(channel, channel)
    if "channel" not in too_long and channel not in CHANNELS:
        rejections.append(_not_allowed("invalid_channel", "channel", channel, CHANNELS))

    tier = _code(ticket.customer_tier, "customer_tier" in too_long) or DEFAULT_TIER
    if "customer_tier" not in too_long and tier not in TIERS:
        rejections.append(_not_allowed("invalid_tier", "customer_tier", tier, TIERS))

    language = _code(ticket.language, "language" in too_long) or None
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
    name = normalize_line(ticket.customer_name or "") or normalize_line(display_name)
    name = name[:MAX_NAME_CHARS].rstrip()
    return (
        NormalizedTicket(
            ticket_id=ticket.ticket_id,
            subject=subject[:MAX_SUBJECT_CHARS].rstrip(),
            body=body.text,
            customer_email=email,
            customer_name=name or None,
            channel=channel,
            customer_tier=tier,
            language=language,
            metadata=_normalize_metadata(ticket.metadata),
            body_excerpt=body.excerpt,
            body_chars=body.chars,
            body_ref=ticket.body_ref,
            quoted_chars=body.quoted_chars,
            signature_chars=body.signature_chars,
        ),
        [],
    )


@dataclass(frozen=True)
class _Body:
    text: str
    excerpt: bool = False
    chars: int = 0
    quoted_chars: int = 0
    signature_chars: int = 0


def _body(ticket: Ticket, max_body_chars: int) -> tuple[_Body, list[Rejection]]:
    """The body to triage (see the module docstring) and its problems."""
    raw = ticket.body
    if raw is None:
        return _Body(""), [_missing("body")]
    scan = SCAN_FACTOR * max_body_chars
    if mailtext.looks_like_html(raw):
        read = min(len(raw), mailtext.MAX_HTML_CHARS)
        text = normalize_text(mailtext.html_to_text(_clean_chars(raw[:read])))
    else:
        read = min(len(raw), scan)
        text = normalize_text(raw[:read])
        if not text and read < len(raw):  # a prefix of blanks: look at the whole, once
            read, text = len(raw), normalize_text(raw)
    if not text:
        return _Body(""), [Rejection(code="empty_body", field="body", message="body is empty.")]
    reply = mailtext.split_reply(text, ticket.subject or "")
    chars = max(ticket.body_chars or 0, len(raw))
    excerpt = ticket.body_ref is not None or chars > read or len(reply.text) > max_body_chars
    return (
        _Body(
            reply.text[:max_body_chars].rstrip(),
            excerpt,
            chars,
            reply.quoted_chars,
            reply.signature_chars,
        ),
        [],
    )


def normalize_text(text: str) -> str:
    """Clean multi-line free text as described in the module docstring."""
    text = unicodedata.normalize("NFC", _clean_chars(text))
    text = _LINE_EDGES_RE.sub("\n", _BLANKS_RE.sub(" ", text))
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


def normalize_line(text: str) -> str:
    """Clean a single-line field: every whitespace run, newlines included, is one space."""
    text = unicodedata.normalize("NFC", _clean_chars(text))
    return _WHITESPACE_RE.sub(" ", text).strip()


def _clean_chars(text: str) -> str:
    text = _LINE_BREAKS_RE.sub("\n", text)
    if text.isascii():
        return text.translate(_ASCII_CONTROLS)
    dropped, spaces, long_marks = _unicode_classes()
    text = spaces.sub(" ", dropped.sub("", text))
    return long_marks.sub(_first_marks, text)


def warm_up() -> None:
    """Build the Unicode tables and load the e-mail libraries' data now (the worker calls
    this before it polls): done inside a first workflow activation on a busy machine they
    can take seconds, tripping the SDK's 2 s deadlock detector (TMPRL1101) and failing the
    first runs' workflow tasks."""
    _unicode_classes()
    mailtext.warm_up()


@functools.cache
def _unicode_classes() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Regexes for the characters to drop, the spaces to replace and the runs of combining
    marks to cut, built once per process from `unicodedata` (~0.2 s): C-speed matching
    instead of a Python loop per character."""
    dropped: list[int] = []
    spaces: list[int] = []
    marks: list[int] = []
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs"):
            if ch not in "\n\t":
                dropped.append(code)
        elif category == "Zs":
            if ch != " ":
                spaces.append(code)
        elif category[0] == "M" and _is_non_starter(ch):
            marks.append(code)
    mark = _char_class(marks)
    return (
        re.compile(f"{_char_class(dropped)}+"),
        re.compile(_char_class(spaces)),
        # A run starts where the mark before is not one: one attempt per run, not per mark.
        re.compile(f"{mark}(?<!{mark}.){mark}{{{MAX_MARKS},}}"),
    )


def _first_marks(run: re.Match[str]) -> str:
    return run.group()[:MAX_MARKS]


def _is_non_starter(ch: str) -> bool:
    # U+0F73 and a few more have combining class 0 but decompose into two marks.
    if unicodedata.combining(ch):
        return True
    decomposed = unicodedata.decomposition(ch)
    if not decomposed or decomposed.startswith("<"):
        return False
    return unicodedata.combining(chr(int(decomposed.split()[0], 16))) != 0


def _char_class(codes: list[int]) -> str:
    """A pattern for one of `codes`. Code points past U+FFFF get their own class, tried only
    for such characters: `re` checks a BMP class in O(1), a class with astral ranges in
    O(ranges)."""
    bmp = _ranges([c for c in codes if c <= 0xFFFF])
    astral = [c for c in codes if c > 0xFFFF]
    if not astral:
        return bmp
    return f"(?:{bmp}|(?=[\\U00010000-\\U0010ffff]){_ranges(astral)})"


def _ranges(codes: list[int]) -> str:
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


def _code(value: str | None, too_long: bool) -> str:
    return "" if too_long else normalize_line(value or "").lower()


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
