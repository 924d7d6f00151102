"""Document ingestion for the extraction workflow: the original from the blob store →
plain text (PDF, text, HTML, e-mail with attachments) → normalised, bounded, stored as a
blob. Only a small description travels back through history.

A file that cannot be read is a business outcome, not an outage: `MalformedDocument`
(non-retryable) tells the workflow to reject the document with its reason.
"""

from __future__ import annotations

import email
import email.policy
import io
import logging
import re
import unicodedata
from html.parser import HTMLParser

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.providers.offline import detect_language
from activities.store import Store
from contracts.extraction import (
    CHUNK_CHARS,
    MAX_PAGES,
    MAX_TEXT_CHARS,
    MODEL_HEAD_CHARS,
    MODEL_TAIL_CHARS,
    PREVIEW_CHARS,
    DocumentInput,
    IngestedDocument,
)

MALFORMED = "MalformedDocument"
MIN_TEXT_CHARS = 20  # less than this is no invoice (an empty file, a scan without text)
logging.getLogger("pypdf").setLevel(logging.ERROR)  # broken files are reported, not logged


class MalformedDocument(ValueError):
    pass


class _HtmlText(HTMLParser):
    """Visible text of an HTML page: script and style dropped, blocks on their own line."""

    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "section"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append("  ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "".join(parser.out)


def pdf_text(data: bytes) -> tuple[str, int]:
    """(text, pages) of a PDF, at most MAX_PAGES pages read."""
    from pypdf import PdfReader  # imported here: only ingestion needs it
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = reader.pages[:MAX_PAGES]
        text = "\n".join(p.extract_text() or "" for p in pages)
        return text, len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as err:
        raise MalformedDocument(f"unreadable PDF: {type(err).__name__}: {err}"[:300]) from err


def eml_text(data: bytes) -> tuple[str, int, list[str]]:
    """(text, pages, parts) of an e-mail: text/plain preferred, else HTML; PDF attachments
    are read too."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if not msg.keys():
        raise MalformedDocument("not an e-mail: no headers")
    body = msg.get_body(preferencelist=("plain", "html"))
    texts, parts, pages = [], [], 1
    if body is not None:
        content = body.get_content()
        texts.append(html_text(content) if body.get_content_subtype() == "html" else content)
        parts.append("body")
    for att in msg.iter_attachments():
        name = att.get_filename() or "attachment"
        if att.get_content_type() == "application/pdf" or name.lower().endswith(".pdf"):
            text, n = pdf_text(att.get_payload(decode=True) or b"")
            texts.append(text)
            parts.append(f"attachment:{name}")
            pages += n
    subject = str(msg.get("subject", ""))
    return "\n".join([f"Subject: {subject}", *texts]), pages, parts


def normalise(text: str) -> str:
    """NFC, no control characters, runs of spaces folded, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_text(data: bytes, media_type: str) -> tuple[str, int, list[str]]:
    """(normalised text, pages, parts) of an original; raises MalformedDocument."""
    if not data:
        raise MalformedDocument("empty file")
    if media_type == "application/pdf":
        if not data.startswith(b"%PDF"):
            raise MalformedDocument("not a PDF: no %PDF header")
        text, pages = pdf_text(data)
        parts = ["body"]
    elif media_type == "message/rfc822":
        text, pages, parts = eml_text(data)
    else:
        raw = data.decode("utf-8", errors="replace")
        text = html_text(raw) if media_type == "text/html" else raw
        pages, parts = 1, ["body"]
    text = normalise(text)
    if len(text) < MIN_TEXT_CHARS:
        raise MalformedDocument(f"no text to extract ({len(text)} characters)")
    return text, pages, parts


def model_view(text: str) -> str:
    """The bounded text the model reads: all of it, or its head and tail."""
    if len(text) <= MODEL_HEAD_CHARS + MODEL_TAIL_CHARS:
        return text
    return text[:MODEL_HEAD_CHARS] + "\n[…]\n" + text[-MODEL_TAIL_CHARS:]


def chunks(n: int, size: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)] if n > size else [(0, n)]


class DocumentActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name="ingest_document")
    def ingest_document(self, doc: DocumentInput) -> IngestedDocument:
        data = self.store.get_bytes(doc.blob_ref)
        if data is None:  # the starter stores it first: a missing blob is a broken deploy
            raise ApplicationError(f"blob {doc.blob_ref} not found", type="BlobMissing")
        try:
            text, pages, parts = extract_text(data, doc.media_type)
        except MalformedDocument as err:
            # BENIGN: a user's bad file is an outcome (rejected), not a bug: no traceback
            raise ApplicationError(
                str(err),
                type=MALFORMED,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            ) from err
        truncated = len(text) > MAX_TEXT_CHARS or pages > MAX_PAGES
        text = text[:MAX_TEXT_CHARS]
        ref = self.store.put_blob(text)
        return IngestedDocument(
            text_ref=ref,
            preview=text[:PREVIEW_CHARS],
            pages=pages,
            chars=len(text),
            text_sha256=ref.removeprefix("sha256:"),
            language=detect_language(text[:5_000]),
            chunks=chunks(len(text)),
            parts=parts,
            truncated=truncated,
            model_text=model_view(text),
        )
