"""`aiflow run documents FILE`: a document (.pdf/.txt/.html/.eml) or a directory of them
becomes extraction runs. Each original is size-capped and stored as a blob; only its
reference and hash travel through Temporal. The business key is the content hash, so
the same file submitted twice is one run."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from activities.store import Store
from contracts.extraction import MAX_DOCUMENT_BYTES, MEDIA_TYPES, DocumentInput
from settings import Settings
from starter.items import ItemToStart, printable

KEY_HEX = 32  # of the sha256: the workflow id is doc-<first 32 hex>


def document_files(path: Path) -> list[Path]:
    """The file, or the directory's files (by name, not recursive, hidden ones left out):
    a file of a type aiflow does not read gets its own "not started" line, not silence."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return [path]


def document_items(path: Path, store: Store, settings: Settings) -> Iterator[ItemToStart]:
    seen: dict[str, str] = {}
    for file in document_files(path):
        where = file.name
        media_type = MEDIA_TYPES.get(file.suffix.lower())
        if media_type is None:
            yield ItemToStart(
                where, error=f"unsupported type {file.suffix!r}: {sorted(MEDIA_TYPES)}"
            )
            continue
        try:
            size = file.stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                yield ItemToStart(where, error=f"{size} bytes: over the {MAX_DOCUMENT_BYTES} cap")
                continue
            data = file.read_bytes()[: MAX_DOCUMENT_BYTES + 1]
        except OSError as err:
            yield ItemToStart(where, error=f"cannot read: {err.strerror or err}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        key = digest[:KEY_HEX]
        if key in seen:
            yield ItemToStart(where, error=f"duplicate of {seen[key]} (same content)")
            continue
        seen[key] = where
        doc = DocumentInput(
            doc_id=key,
            filename=file.name[:255],
            media_type=media_type,
            blob_ref=store.put_bytes(data),
            size=len(data),
            sha256=digest,
        )
        yield ItemToStart(where, key, doc, summary=f"Document {printable(file.name, 64)}")
