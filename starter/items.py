"""Items of any registered workflow, as `aiflow run` reads and starts them.

A workflow's spec names its reader (`WorkflowSpec.reader`, "module:function"): a function
`(path, store, settings) -> Iterator[ItemToStart]` that turns one file into the items to
start, each already checked and bounded (large content stored, travelling by reference),
or an item with `error` set (one line, shown escaped). Starting is the same for every
workflow: workflow id = the spec's prefix + the business key, Temporal's id-reuse policy
keeps it to one run per item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from pydantic import BaseModel, ValidationError

from activities.store import Store
from contracts.limits import TICKET_ID_RE, TICKET_ID_RULE
from settings import Settings
from starter.ticket_file import iter_tickets
from workflows.registry import WorkflowSpec


@dataclass(frozen=True)
class ItemToStart:
    where: str  # for the user: "line 3", "invoice-7.pdf"
    key: str | None = None  # the business key (None: not usable)
    input: BaseModel | None = None  # the workflow's input, bounded
    error: str | None = None  # why it is not started
    summary: str = ""  # the run's summary in the Web UI (printable, short)


Reader = Callable[[Path, Store, Settings], Iterator[ItemToStart]]


def reader_of(spec: WorkflowSpec) -> Reader:
    module, _, name = spec.reader.partition(":")
    return getattr(import_module(module), name)


def json_items(
    path: Path,
    model: type[BaseModel],
    key_field: str,
    summary: Callable[[BaseModel], str] | None = None,
    wrap: Callable[[BaseModel], BaseModel] | None = None,
) -> Iterator[ItemToStart]:
    """Items from a .json file (an object or a list) or a JSONL file (one object a line,
    streamed), each validated against `model` (whose fields carry their caps). A file that
    cannot be read as JSON objects starts nothing: CliError naming the line, before any
    item is yielded. `wrap` turns the validated object into the workflow's input."""
    for _ in iter_tickets(path):  # the whole file parses, or nothing starts
        pass
    for where, raw in iter_tickets(path):
        key = raw.get(key_field)
        if not isinstance(key, str) or not key:
            yield ItemToStart(where, error=f"{key_field} is missing or not a string")
            continue
        if not TICKET_ID_RE.fullmatch(key):
            yield ItemToStart(where, error=f"{key_field} must be {TICKET_ID_RULE}")
            continue
        try:
            value = model.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(object)"
            yield ItemToStart(where, key, error=f"{field}: {first['msg']}")
            continue
        yield ItemToStart(
            where,
            key,
            wrap(value) if wrap else value,
            summary=printable(summary(value)) if summary else "",
        )


def workflow_id(spec: WorkflowSpec, key: str) -> str:
    """The item's workflow id: prefix + key, or prefix + the key's hash when the key is
    outside the safe charset (TICKET_ID_RE: no control characters, slashes or spaces)."""
    if TICKET_ID_RE.fullmatch(key):
        return spec.id_prefix + key
    return spec.id_prefix + "sha256-" + hashlib.sha256(key.encode()).hexdigest()


def printable(text: str | None, limit: int = 80) -> str:
    """`text` as one short printable line (for a run's summary)."""
    clean = "".join(ch if ch.isprintable() else " " for ch in (text or "")[: limit * 4])
    return " ".join(clean.split())[:limit]
