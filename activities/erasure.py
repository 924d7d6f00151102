"""A customer's data in the store, found and removed: `aiflow erase` and the retention
purge share these table-level deletions.

A run belongs to a customer through `runs.customer_key`, a keyed hash of the normalised
e-mail address (HMAC-SHA256 under a subkey of each loaded payload key, else SHA-256 with
a fixed prefix), written by `Store.save_run` from the ticket of the run's review. Every
other row of a run hangs off its workflow id: steps, model responses, reviews,
corrections, notices, drift features, claim-checked payloads, the cache entries it last
wrote, and the large body its ticket points to.

Runs written before the column existed (or without a review, so without a ticket in the
persist call) have no key: `find` then falls back to reading the e-mail out of the
reviews of key-less runs (the sealed column decrypts on read; under "redact" the address
is not kept, and such runs are not found).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.engine import Connection, Engine

from activities.drift_store import RunFeatureRow
from activities.review_store import CorrectionRow, NotificationRow, ReviewRow
from activities.store import BlobRow, ResponseRow, RunRow, StepRow
from protection.blobs import PayloadBlobRow
from protection.keys import Keyring

KEY_PURPOSE = b"aiflow-customer-key-v1"  # HKDF info: this subkey opens nothing else
UNKEYED_PREFIX = b"aiflow-customer-key-v1\x00"  # domain separation without a key
FINAL_STAGE = "done"
MIN_QUOTED = 20  # ticket texts shorter than this are not looked for in exported files
IN_CHUNK = 500  # workflow ids per IN (...): far below SQLite's bound-parameter limit
# The tables a run's rows live in, in the order they are reported.
TABLES = (
    "runs",
    "steps",
    "model_responses",
    "reviews",
    "corrections",
    "notifications",
    "run_features",
    "answer_cache",
    "blobs",
    "payload_blobs",
)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _subkey(keyring: Keyring, key_id: str) -> bytes:
    # Keyring keeps its key bytes private; the HMAC subkey is derived the way its own
    # purposes are (HKDF-SHA256, purpose as info), so it is independent of every cipher.
    raw = keyring._keys[key_id]  # noqa: SLF001
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(raw)


def customer_key(email: str, keyring: Keyring | None) -> str:
    """The key written with a customer's rows: `<key id>:<hmac hex>` under the active
    key, or `sha256:<hex>` when no keyring is configured. Never the address."""
    data = normalise_email(email).encode("utf-8")
    if keyring is None:
        return "sha256:" + hashlib.sha256(UNKEYED_PREFIX + data).hexdigest()
    mac = hmac.new(_subkey(keyring, keyring.active), data, hashlib.sha256).hexdigest()
    return f"{keyring.active}:{mac}"


def customer_keys(email: str, keyring: Keyring | None) -> list[str]:
    """Every key a row of this customer may carry: one per loaded key id (rows written
    before a rotation) and the unkeyed one (rows written before keys were configured)."""
    data = normalise_email(email).encode("utf-8")
    keys = [customer_key(email, None)]
    for key_id in keyring.key_ids if keyring else []:
        keys.append(
            f"{key_id}:{hmac.new(_subkey(keyring, key_id), data, hashlib.sha256).hexdigest()}"
        )
    return keys


@dataclass(frozen=True)
class FoundRun:
    workflow_id: str
    run_id: str
    stage: str

    @property
    def in_flight(self) -> bool:
        return self.stage != FINAL_STAGE


@dataclass
class RunSet:
    """A set of runs and the rows outside their workflow id that go with them."""

    runs: list[FoundRun] = field(default_factory=list)
    body_refs: set[str] = field(default_factory=set)  # large ticket bodies (blobs)
    decision_ids: set[str] = field(default_factory=set)  # for exported feedback files
    bodies: set[str] = field(default_factory=set)  # ticket texts, for exported files

    @property
    def workflow_ids(self) -> list[str]:
        return [r.workflow_id for r in self.runs]


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def review_ticket(request: Any) -> dict[str, Any]:
    ticket = request.get("ticket") if isinstance(request, dict) else None
    return ticket if isinstance(ticket, dict) else {}


class Eraser:
    """Finds and deletes the rows of a set of runs in one store (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _has(self, table: str) -> bool:
        return inspect(self.engine).has_table(table)

    def find(self, email: str, keyring: Keyring | None) -> RunSet:
        """The customer's runs: by key, plus key-less runs whose review names the address."""
        wanted = normalise_email(email)
        runs_t, reviews_t = RunRow.__table__, ReviewRow.__table__
        found = RunSet()
        with self.engine.connect() as conn:
            keyed = conn.execute(
                select(runs_t.c.workflow_id, runs_t.c.run_id, runs_t.c.stage).where(
                    runs_t.c.customer_key.in_(customer_keys(email, keyring))
                )
            )
            runs = {wid: FoundRun(wid, rid, stage) for wid, rid, stage in keyed}
            legacy = (
                select(runs_t.c.workflow_id, runs_t.c.run_id, runs_t.c.stage, reviews_t.c.request)
                .join(reviews_t, reviews_t.c.workflow_id == runs_t.c.workflow_id)
                .where(runs_t.c.customer_key.is_(None))
            )
            for wid, rid, stage, request in conn.execute(legacy):
                address = review_ticket(request).get("customer_email")
                if isinstance(address, str) and normalise_email(address) == wanted:
                    runs[wid] = FoundRun(wid, rid, stage)
            found.runs = sorted(runs.values(), key=lambda r: r.workflow_id)
            self._collect(conn, found)
        return found

    def _collect(self, conn: Connection, found: RunSet) -> None:
        """The body refs, decision ids and texts the runs' reviews and corrections name."""
        reviews_t, corrections_t = ReviewRow.__table__, CorrectionRow.__table__
        for chunk in _chunks(found.workflow_ids):
            q = select(reviews_t.c.request).where(reviews_t.c.workflow_id.in_(chunk))
            for (request,) in conn.execute(q):
                ticket = review_ticket(request)
                if isinstance(ticket.get("body_ref"), str):
                    found.body_refs.add(ticket["body_ref"])
                for key in ("body", "subject"):
                    if isinstance(ticket.get(key), str) and len(ticket[key]) >= MIN_QUOTED:
                        found.bodies.add(ticket[key])
            q = select(corrections_t.c.decision_id).where(corrections_t.c.workflow_id.in_(chunk))
            found.decision_ids |= set(conn.execute(q).scalars())

    def _targets(self, found: RunSet) -> list[tuple[str, Any, list[str]]]:
        """(table name, the column to match, the values) of each table's rows."""
        from activities.answer_cache import CacheRow  # noqa: PLC0415 - numpy: only here

        ids = found.workflow_ids
        targets: list[tuple[str, Any, list[str]]] = [
            ("runs", RunRow.__table__.c.workflow_id, ids),
            ("steps", StepRow.__table__.c.workflow_id, ids),
            ("model_responses", ResponseRow.__table__.c.workflow_id, ids),
            ("reviews", ReviewRow.__table__.c.workflow_id, ids),
            ("corrections", CorrectionRow.__table__.c.workflow_id, ids),
            ("notifications", NotificationRow.__table__.c.workflow_id, ids),
            ("run_features", RunFeatureRow.__table__.c.workflow_id, ids),
            ("answer_cache", CacheRow.__table__.c.source_workflow_id, ids),
            ("blobs", BlobRow.__table__.c.ref, sorted(found.body_refs)),
            ("payload_blobs", PayloadBlobRow.__table__.c.workflow_id, ids),
        ]
        present = set(inspect(self.engine).get_table_names())
        return [(t, col, vals) for t, col, vals in targets if t in present and vals]

    def count(self, found: RunSet) -> dict[str, int]:
        """Rows per table that `delete` would remove."""
        counts = dict.fromkeys(TABLES, 0)
        with self.engine.connect() as conn:
            for table, column, values in self._targets(found):
                for chunk in _chunks(values):
                    q = select(func.count()).select_from(column.table).where(column.in_(chunk))
                    counts[table] += conn.execute(q).scalar_one()
        return counts

    def delete(self, found: RunSet) -> dict[str, int]:
        """Remove every row of the runs, in one transaction; rows removed per table."""
        counts = dict.fromkeys(TABLES, 0)
        with self.engine.begin() as conn:
            for table, column, values in self._targets(found):
                for chunk in _chunks(values):
                    counts[table] += (
                        conn.execute(delete(column.table).where(column.in_(chunk))).rowcount or 0
                    )
        return counts


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def mentions(line: dict[str, Any], email: str, found: RunSet) -> bool:
    """Whether an exported feedback line is the customer's: one of their decisions, their
    address anywhere in it, or one of their ticket texts quoted in it (finetune.jsonl)."""
    if line.get("id") in found.decision_ids:
        return True
    wanted = normalise_email(email)
    return any(wanted in s.lower() or any(b in s for b in found.bodies) for s in _strings(line))


def scrub_feedback_dir(
    folder: Path, email: str, found: RunSet, *, dry_run: bool = False
) -> dict[str, int]:
    """Rewrite the folder's exported *.jsonl files without the customer's lines (each
    file replaced atomically); lines removed per file. summary.json keeps aggregates
    only and is left as it is: export again to refresh it."""
    removed: dict[str, int] = {}
    for path in sorted(folder.glob("*.jsonl")):
        kept: list[str] = []
        gone = 0
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(raw) if raw.strip() else None
            except ValueError:
                line = None
            if isinstance(line, dict) and mentions(line, email, found):
                gone += 1
            else:
                kept.append(raw)
        removed[path.name] = gone
        if gone and not dry_run:
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(f"{k}\n" for k in kept), encoding="utf-8")
            tmp.replace(path)
    return removed
