"""E-mail in: an RFC 5322 message (the bytes of an .eml file) as a raw ticket for `aiflow
submit`, `aiflow run tickets` and `aiflow demo --tickets`. Standard library `email` with
`policy.default`; HTML bodies reduced to text as intake does (`workflows.mailtext`).

What a message gives:
  ticket_id       the file name's stem if it is a valid ticket id, else "M-" and 16 hex
                  digits of the SHA-256 of the Message-ID (of the bytes, without one);
  subject         Subject, RFC 2047 words decoded;
  body            the first text/plain part that is not an attachment, else the first
                  text/html one as text (of its first MAX_HTML_CHARS characters);
                  transfer encodings (quoted-printable, base64) undone, the charset
                  decoded (unknown, missing or a Latin-1 label: UTF-8 if the bytes are
                  UTF-8, else windows-1252; undecodable bytes as U+FFFD);
  customer_email, customer_name   From's first address and display name;
  channel         "email"; language: Content-Language's primary tag, if two letters;
  metadata        header features for spam and auto-reply detection, each only if present:
                  message_id, to, reply_to, list_unsubscribe ("yes"), list_id, precedence,
                  auto_submitted, x_mailer, x_priority, received_count, html_only ("yes"),
                  attachments (parts with a file name or attachment disposition, and
                  attached messages), links (http/https URLs in the body).
A message of more than MAX_MESSAGE_BYTES, or bytes with none of the headers a message has,
raise CliError naming the file.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import EmailMessage

from contracts.limits import (
    FIELD_CHARS,
    MAX_MESSAGE_BYTES,
    METADATA_VALUE_CHARS,
    TICKET_ID_RE,
)
from starter.terminal import CliError
from workflows.mailtext import html_to_text

MAX_PARTS = 200  # MIME parts looked at; the rest of a message is not read
# Of an HTML part, the markup turned into text (~2.5 s at worst; intake reads less).
MAX_HTML_CHARS = 1_000_000
MAX_DEPTH = 20  # multipart nesting followed
# A message has at least one of these (RFC 5322 requires From and Date).
_MESSAGE_HEADERS = ("from", "to", "subject", "date", "message-id")
# Not charsets a mail part is written in (and slow or odd on arbitrary bytes).
_NOT_MAIL_CHARSETS = {"idna", "punycode", "raw-unicode-escape", "unicode-escape"}
# WHATWG: these labels mean windows-1252 in practice (its C1 range holds € ‚ „ ...).
_AS_WINDOWS_1252 = {"ascii", "latin-1", "iso8859-1", "cp1252"}
_LINK_RE = re.compile(r"https?://", re.IGNORECASE)
# What the stdlib's header parser raises on some malformed structured headers.
_HEADER_BUGS = (IndexError, AttributeError, TypeError, ValueError)


def ticket_from_message(data: bytes, stem: str, name: str) -> dict:
    """The raw ticket of the message `data`, read from the file `name` whose stem is
    `stem`; CliError if it is too big or not a message."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise CliError(
            f"{name} has more than {MAX_MESSAGE_BYTES} bytes; the limit is {MAX_MESSAGE_BYTES}"
        )
    try:
        msg = message_from_bytes(data, policy=policy.default)
        if not any(h in msg for h in _MESSAGE_HEADERS):
            raise CliError(f"{name} is not an e-mail message: it has no From, To or Subject")
        return _ticket(msg, data, stem)
    except RecursionError:
        raise CliError(f"{name} is not an e-mail message: MIME parts nested too deeply") from None
    except (MessageError, LookupError, *_HEADER_BUGS):
        # What the stdlib parser may still raise on malformed input: one line, no traceback.
        raise CliError(f"{name} is not a readable e-mail message") from None


def _ticket(msg: EmailMessage, data: bytes, stem: str) -> dict:
    message_id = _header(msg, "message-id")
    if TICKET_ID_RE.fullmatch(stem):
        ticket_id = stem
    else:
        ticket_id = "M-" + hashlib.sha256(message_id.encode() or data).hexdigest()[:16]
    email, name = _first_address(msg, "from")
    body, html_only, attachments = _body(msg)
    ticket: dict = {
        "ticket_id": ticket_id,
        "subject": _header(msg, "subject")[: FIELD_CHARS["subject"]],
        "body": body,
        "customer_email": email,
        "channel": "email",
    }
    if name:
        ticket["customer_name"] = name[: FIELD_CHARS["customer_name"]]
    language = _header(msg, "content-language").split(",")[0].strip().split("-")[0].lower()
    if len(language) == 2 and language.isascii() and language.isalpha():
        ticket["language"] = language
    features = {
        "message_id": message_id,
        "to": _header(msg, "to"),
        "reply_to": _first_address(msg, "reply-to")[0],
        "list_unsubscribe": "yes" if "list-unsubscribe" in msg else "",
        "list_id": _header(msg, "list-id"),
        "precedence": _header(msg, "precedence").lower(),
        "auto_submitted": _header(msg, "auto-submitted").lower(),
        "x_mailer": _header(msg, "x-mailer"),
        "x_priority": _header(msg, "x-priority"),
        "received_count": str(len(msg.get_all("received") or ())),
        "html_only": "yes" if html_only else "",
        "attachments": str(attachments),
        "links": str(len(_LINK_RE.findall(body))),
    }
    ticket["metadata"] = {
        k: v[:METADATA_VALUE_CHARS] for k, v in features.items() if v and v != "0"
    }
    return ticket


def _parsed(msg: EmailMessage, name: str) -> object:
    """The header `name` as the policy parses it, its raw text if the parser fails on it,
    or None."""
    try:
        return msg.get(name)
    except _HEADER_BUGS:  # read it as the text it is: intake judges it
        raw = next((v for k, v in msg.raw_items() if k.lower() == name), "")
        return re.sub(r"\r?\n[ \t]", " ", str(raw))


def _header(msg: EmailMessage, name: str) -> str:
    value = _parsed(msg, name)
    return _unescape(str(value)).strip() if value is not None else ""


def _first_address(msg: EmailMessage, name: str) -> tuple[str, str]:
    """`(address, display name)` of a header's first mailbox, else its text for intake to
    judge (it says why it is no address)."""
    header = _parsed(msg, name)
    if header is None:
        return "", ""
    try:
        addresses = getattr(header, "addresses", ())
    except _HEADER_BUGS:
        addresses = ()
    for address in addresses:
        if address.addr_spec:
            return _unescape(address.addr_spec), _unescape(address.display_name)
    return _unescape(str(header)).strip()[: FIELD_CHARS["customer_email"] + 1], ""


def _unescape(text: str) -> str:
    # Raw UTF-8 in headers (RFC 6532) reaches the header objects as surrogate escapes.
    if text.isascii() or not re.search("[\udc80-\udcff]", text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _body(msg: EmailMessage) -> tuple[str, bool, int]:
    """`(text, whether it came from HTML, attachments)` of the message's parts."""
    plain = html = None
    attachments = 0
    todo: list[tuple[EmailMessage, int]] = [(msg, 0)]
    seen = 0
    while todo and seen < MAX_PARTS:
        part, depth = todo.pop()
        seen += 1
        kind = part.get_content_type()
        if part.get_content_disposition() == "attachment" or part.get_filename():
            attachments += 1
        elif kind == "message/rfc822":
            attachments += 1  # a forwarded message as a whole: not this one's text
        elif part.is_multipart():
            if depth < MAX_DEPTH:
                subparts = part.get_payload()
                todo += [(p, depth + 1) for p in reversed(subparts) if isinstance(p, EmailMessage)]
        elif kind == "text/plain" and plain is None:
            plain = _text(part)
        elif kind == "text/html" and html is None:
            html = _text(part)
    if plain is not None and plain.strip():
        return plain, False, attachments
    if html is not None:
        return html_to_text(html, MAX_HTML_CHARS), True, attachments
    return plain or "", False, attachments


def _text(part: EmailMessage) -> str:
    """A text part's content: transfer encoding undone, charset decoded (see the module
    docstring)."""
    data = (part.get_payload(decode=True) or b"").replace(b"\r\n", b"\n")  # wire line ends
    charset = _charset(part.get_content_charset())
    if charset is not None and charset not in _AS_WINDOWS_1252:
        try:
            return data.decode(charset, "replace")
        except LookupError:  # a codec that is no text encoding (rot13, zlib)
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _charset(label: str | None) -> str | None:
    """The codec of a charset label, None if it names none a mail part may use."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except (LookupError, ValueError):
        return None
    return None if name in _NOT_MAIL_CHARSETS else name
