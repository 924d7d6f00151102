"""Size caps of every raw `Ticket` field, and of what `aiflow submit` reads: one table for
the starters (checked before anything is sent to Temporal) and for intake (checked again
inside the workflow, for clients that are not ours). Standard library only.

Why each limit is what it is:
  ticket_id       64 chars of TICKET_ID_RE: it becomes part of a workflow id, shown everywhere.
  subject         1,000: a subject line; intake keeps 200 of it, the rest is noise.
  customer_email  254: the longest address SMTP can carry (RFC 5321 path limit); a display
                  name sent with it ('"Name" <addr>') must fit too (.eml reading splits them).
  customer_name   1,000: a display name; intake keeps 200 of it.
  channel, customer_tier, language  64: codes from short lists; room for padding and case.
  metadata        50 keys of up to 200 chars, values of up to 500: tags, not documents
                  (intake keeps 20 keys, 200 chars each).
  body            5,000,000 chars: bodies over `max_body_chars` are stored whole as a blob
                  and triaged on an excerpt (never rejected for that length), but even a
                  blob must be a ticket, not a 100 MB dump.
  body_ref        200 chars: a store reference ("sha256:" + 64 hex digits is 71).
  a JSONL line    32 MiB: a body at its cap, even written as \\u escapes, fits.
  a .json file    32 MiB: read whole, so capped like a line; bigger batches go in JSONL.
  an .eml file    25 MiB: what common mail services accept as one message, attachments
                  included (attachments are counted, not kept).
Everything that may travel in history is then far below Temporal's 2 MB payload limit.
"""

from __future__ import annotations

import re
from typing import Any

# The ticket id becomes part of a workflow id: short, ASCII, no "/" or spaces.
TICKET_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
TICKET_ID_RULE = "1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"

# Caps of the string fields, in `Ticket` field order.
FIELD_CHARS: dict[str, int] = {
    "ticket_id": 64,
    "subject": 1_000,
    "body": 5_000_000,
    "customer_email": 254,
    "customer_name": 1_000,
    "channel": 64,
    "customer_tier": 64,
    "language": 64,
    "body_ref": 200,
}
METADATA_KEYS = 50
METADATA_KEY_CHARS = 200
METADATA_VALUE_CHARS = 500

MAX_LINE_BYTES = 32 * 1024 * 1024
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


def over_limits(ticket: Any) -> list[tuple[str, str]]:
    """`(field, message)` for each field of a `Ticket` over its cap, in field order.

    Looks at lengths only, never at content, so it takes the same time on any input; the
    messages quote no value."""
    found = []
    for field, cap in FIELD_CHARS.items():
        value = getattr(ticket, field)
        if value is not None and len(value) > cap:
            found.append((field, f"{field} has {len(value)} characters; the limit is {cap}"))
    problem = _metadata_problem(ticket.metadata)
    if problem:
        found.append(("metadata", problem))
    return found


def _metadata_problem(metadata: dict[str, str]) -> str | None:
    if len(metadata) > METADATA_KEYS:
        return f"metadata has {len(metadata)} keys; the limit is {METADATA_KEYS}"
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_CHARS:
            return f"a metadata key has {len(key)} characters; the limit is {METADATA_KEY_CHARS}"
        if len(value) > METADATA_VALUE_CHARS:
            return (
                f"a metadata value has {len(value)} characters; the limit is {METADATA_VALUE_CHARS}"
            )
    return None
