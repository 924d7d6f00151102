"""Tickets from a file, as `aiflow submit` reads them: a .json file (one ticket or a
list, capped at MAX_DOCUMENT_BYTES), a JSONL file (one ticket a line, streamed, each
line capped at MAX_LINE_BYTES), an .eml file (one e-mail message, capped at
MAX_MESSAGE_BYTES: starter/mail.py), or a directory of such files (its *.eml, *.json and
*.jsonl files in name order, not its subdirectories). A file that cannot be read as
tickets raises CliError naming the first problem and where it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from contracts.limits import MAX_DOCUMENT_BYTES, MAX_LINE_BYTES, MAX_MESSAGE_BYTES
from starter.mail import ticket_from_message
from starter.terminal import CliError, safe_text


def iter_tickets(path: Path) -> Iterator[tuple[str, dict]]:
    """`(where, ticket object)` for each ticket of a .json file (a ticket or a list), of
    a JSONL file (one a line; streamed, never read whole), of an .eml file (where: its
    name) or of a directory of them (where: the file, and the line or item). A file that
    cannot be read as tickets raises CliError naming the first problem and its line.

    A directory named like a ticket file ("d.jsonl") is refused as a file would be."""
    if not _is_ticket_file(path) and path.is_dir():
        yield from _directory(path)
        return
    yield from _file(path)


def _file(path: Path) -> Iterator[tuple[str, dict]]:
    name = safe_text(path, 200)
    try:
        with path.open("rb") as f:
            if path.suffix == ".json":
                yield from _document(f, name)
            elif _is_message(path):
                data = f.read(MAX_MESSAGE_BYTES + 1)
                yield safe_text(path.name, 200), ticket_from_message(data, path.stem, name)
            else:
                yield from _lines(f)
    except OSError as err:
        raise CliError(f"cannot read {name}: {err.strerror or err}") from None


def _is_message(path: Path) -> bool:
    return path.suffix.lower() == ".eml"


def _is_ticket_file(path: Path) -> bool:
    return path.suffix in (".json", ".jsonl") or _is_message(path)


def _directory(path: Path) -> Iterator[tuple[str, dict]]:
    name = safe_text(path, 200)
    try:
        files = sorted(p for p in path.iterdir() if _is_ticket_file(p) and p.is_file())
    except OSError as err:
        raise CliError(f"cannot read {name}: {err.strerror or err}") from None
    if not files:
        raise CliError(f"{name} has no .eml, .json or .jsonl files")
    for file in files:
        shown, full = safe_text(file.name, 200), safe_text(file, 200)
        try:
            for where, ticket in _file(file):
                yield (where if where == shown else f"{shown}: {where}"), ticket
        except CliError as err:
            message = str(err)
            if full not in message:  # a line's problem: say in which file
                raise CliError(f"{full}: {message}") from None
            raise


def read_tickets(path: Path) -> list[dict]:
    return [raw for _, raw in iter_tickets(path)]


def _lines(f: IO[bytes]) -> Iterator[tuple[str, dict]]:
    number = 0
    while line := f.readline(MAX_LINE_BYTES + 1):
        number += 1
        where = f"line {number}"
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            raise CliError(
                f"{where} has more than {MAX_LINE_BYTES} bytes; the limit is {MAX_LINE_BYTES}"
            )
        value = _parse(line, where, in_line=True)
        if value is _BLANK:
            continue
        if not isinstance(value, dict):
            raise CliError(f"{where} is {_kind(value)}, not a ticket object")
        yield where, value


def _document(f: IO[bytes], name: str) -> Iterator[tuple[str, dict]]:
    data = f.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CliError(
            f"{name} has more than {MAX_DOCUMENT_BYTES} bytes; the limit is "
            f"{MAX_DOCUMENT_BYTES} (put one ticket a line in a .jsonl file)"
        )
    value = _parse(data, name, in_line=False)
    items = value if isinstance(value, list) else [value]
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise CliError(f"{name}: item {number} is {_kind(item)}, not a ticket object")
        yield f"item {number}", item


_BLANK = object()


def _parse(data: bytes, where: str, *, in_line: bool) -> Any:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise CliError(f"{where} is not UTF-8 text (byte {err.start + 1})") from None
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        at = f"column {err.colno}" if in_line else f"line {err.lineno}, column {err.colno}"
        raise CliError(f"{where} is not JSON: {err.msg} at {at}") from None
    except RecursionError:
        raise CliError(f"{where} is not a ticket: JSON nested too deeply") from None
    except ValueError:  # an integer of more than sys.get_int_max_str_digits() digits
        raise CliError(f"{where} is not a ticket: a number too long to read") from None


def _kind(value: object) -> str:
    if value is None:
        return "JSON null"
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return f"a JSON {kinds[type(value)]}"
