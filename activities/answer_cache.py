"""The answer cache's store and activities: trusted answers by exact key, and by meaning
(embeddings + a vector index) within a scope; written back by finished runs.

Only trusted rows are served: a reviewer's approved or edited answer, or an auto-resolved
one that enough runs agreed on. A reviewer's rejection evicts. A row that does not parse
is skipped with a log line, never served and never a failed run.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy import JSON, Column, LargeBinary, update
from sqlmodel import Field, Session, SQLModel, func, select
from temporalio import activity

from activities.store import Store
from contracts.cache import (
    CacheHit,
    CacheLookup,
    CacheLookupResult,
    CacheRecordInput,
    CacheRecordResult,
    CacheWrite,
)
from protection.sealed import SealedJSON, SealedText

log = structlog.get_logger("aiflow.cache")
EMBEDDINGS_KEPT = 2048  # texts embedded recently, per process: one embedding per item
SEARCH_K = 3
AGREEMENT_WINDOW = 512  # auto entries compared for agreement by meaning, newest first


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


class CacheRow(SQLModel, table=True):
    __tablename__ = "answer_cache"

    key: str = Field(primary_key=True, max_length=64)
    scope: str = Field(index=True, max_length=64)
    step: str = Field(index=True, max_length=32)
    # the question with the item's own values slotted out; still customer text, so kept
    # as the store keeps bodies. Lookups go by key and embedding, never by this column.
    text: str = Field(sa_column=Column(SealedText("answer_cache.text"), nullable=False))
    # the served answer: masked and sealed, never redacted (the cache would serve nothing)
    output: dict[str, Any] = Field(
        sa_column=Column(SealedJSON("answer_cache.output", free_text=False), nullable=False)
    )
    entity_hashes: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    trust: str = Field(max_length=8)  # human | auto
    trusted: bool = Field(default=False, index=True)  # servable
    approved_by: str = Field(max_length=128)
    confidence: float | None = None
    agreement: int = 1
    source_workflow_id: str = Field(max_length=128)
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    embedder: str | None = Field(default=None, max_length=64)
    hit_count: int = 0
    last_hit_at: datetime | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now, index=True)
    expires_at: datetime
    evicted_at: datetime | None = None
    evict_reason: str | None = Field(default=None, max_length=128)


class AnswerCache:
    """Cache rows in the store plus the vector index over their embeddings."""

    def __init__(self, store: Store, embedder: Any = None, index: Any = None) -> None:
        self.store = store
        self._embedder = embedder
        self._index = index
        self._synced: dict[str, datetime] = {}  # scope -> newest updated_at indexed
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def create_schema(self) -> None:
        self.store.create_schema([CacheRow.__table__])

    # --- embeddings and the index -----------------------------------------------------

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from activities.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    @property
    def index(self) -> Any:
        """pgvector on a PostgreSQL that has it (kept in step by every write); else an
        in-process index rebuilt from the table's embeddings. Chosen on first use, so a
        worker that never looks anything up by meaning loads nothing."""
        if self._index is None:
            from activities.vector_index import index_for

            self._index = index_for(self.store.engine, self.embedder.dim)
        return self._index

    @property
    def persistent(self) -> bool:
        from activities.vector_index import PgVectorIndex

        return isinstance(self.index, PgVectorIndex)

    def embed(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._vectors:
                self._vectors.move_to_end(text)
                return self._vectors[text]
        vector = self.embedder.embed([text])[0].astype(np.float32)
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > EMBEDDINGS_KEPT:
                self._vectors.popitem(last=False)
        return vector

    def _sync(self, session: Session, scope: str) -> None:
        """Bring the index up to date with this scope's rows changed since the last look
        (other workers write too): servable rows in, evicted or expired ones out."""
        since = self._synced.get(scope)
        q = select(CacheRow.key, CacheRow.trusted, CacheRow.embedding, CacheRow.updated_at)
        q = q.where(CacheRow.scope == scope)
        if since is not None:
            q = q.where(CacheRow.updated_at > since)
        newest = since
        for key, trusted, blob, updated in session.exec(q):
            if trusted and blob:
                vector = np.frombuffer(blob, dtype=np.float32)
                self.index.add(key, scope, vector)
            else:
                self.index.remove(key)
            updated = _aware(updated)
            newest = updated if newest is None or updated > newest else newest
        if newest is not None:
            self._synced[scope] = newest

    # --- lookups ----------------------------------------------------------------------

    def lookup(self, inp: CacheLookup) -> CacheLookupResult:
        started = time.perf_counter()
        skipped: list[str] = []
        with Session(self.store.engine) as session:
            hit = self._servable(session, session.get(CacheRow, inp.key), "exact", 1.0, skipped)
            if hit is None and inp.semantic:
                if not self.persistent:
                    self._sync(session, inp.scope)
                vector = self.embed(inp.text)
                for key, similarity in self.index.search(inp.scope, vector, k=SEARCH_K):
                    if similarity < inp.min_similarity:
                        break
                    row = session.get(CacheRow, key)
                    hit = self._servable(session, row, "semantic", similarity, skipped)
                    if hit is not None:
                        break
            if hit is not None:
                session.exec(
                    update(CacheRow)
                    .where(CacheRow.key == hit.key)
                    .values(hit_count=CacheRow.hit_count + 1, last_hit_at=_now())
                )
                session.commit()
        return CacheLookupResult(
            hit=hit, skipped=skipped, latency_ms=round((time.perf_counter() - started) * 1e3, 3)
        )

    def _servable(
        self,
        session: Session,
        row: CacheRow | None,
        tier: str,
        similarity: float,
        skipped: list[str],
    ) -> CacheHit | None:
        if row is None or not row.trusted or row.evicted_at is not None:
            return None
        if _aware(row.expires_at) <= _now():
            return None
        try:
            return CacheHit(
                key=row.key,
                tier=tier,
                similarity=round(float(similarity), 4),
                output=row.output,
                source_workflow_id=row.source_workflow_id,
                approved_by=row.approved_by,
                entity_hashes=row.entity_hashes,
                created_at=_aware(row.created_at),
                hits=row.hit_count,
            )
        except (ValueError, TypeError) as err:  # a row no writer of ours produced
            log.warning("cache.corrupt_row_skipped", key=row.key, error=str(err)[:200])
            skipped.append(row.key)
            return None

    # --- writes -----------------------------------------------------------------------

    def record(self, inp: CacheRecordInput) -> CacheRecordResult:
        result = CacheRecordResult()
        with Session(self.store.engine) as session:
            for key in inp.evict:
                result.evicted += self._evict(session, key, inp.evict_reason or "rejected")
            for w in inp.writes:
                trusted = self._write(session, inp, w)
                result.written += 1
                result.trusted += int(trusted)
            session.commit()
        return result

    def _write(self, session: Session, inp: CacheRecordInput, w: CacheWrite) -> bool:
        """Add or update one entry; True when it is servable after the write."""
        now = _now()
        row = session.get(CacheRow, w.key)
        expires = now + timedelta(seconds=inp.ttl_seconds)
        if row is not None and w.trust == "auto":
            if row.trust == "human" or (row.evicted_at is not None and row.trust == "auto"):
                return bool(row.trusted)  # a person's word (or rejection) stands
            same = row.output == w.output
            row.agreement = row.agreement + 1 if same else 1
            row.output = w.output
            row.trusted = row.agreement >= inp.auto_agreement
        elif row is not None:  # a reviewer approved or corrected: the person's answer wins
            row.output, row.trust, row.trusted = w.output, "human", True
            row.evicted_at = row.evict_reason = None
        else:
            row = CacheRow(
                key=w.key,
                scope=w.scope,
                step=w.step,
                text=w.text,
                output=w.output,
                trust=w.trust,
                trusted=w.trust == "human" or inp.auto_agreement <= 1,
                approved_by=w.approved_by,
                confidence=w.confidence,
                source_workflow_id=inp.workflow_id,
                expires_at=expires,
            )
        if w.trust == "auto" and not row.trusted:
            if inp.semantic and row.embedding is None:
                row.embedding = self.embed(w.text).tobytes()
                row.embedder = getattr(self.embedder, "name", None)
            if inp.semantic:
                row.agreement = max(row.agreement, 1 + self._agreeing(session, row, inp))
            row.trusted = row.agreement >= inp.auto_agreement
        row.entity_hashes = w.entity_hashes
        row.approved_by = w.approved_by
        row.confidence = w.confidence
        row.source_workflow_id = inp.workflow_id
        row.expires_at, row.updated_at = expires, now
        if inp.semantic and row.trusted and row.embedding is None:
            row.embedding = self.embed(w.text).tobytes()
            row.embedder = getattr(self.embedder, "name", None)
        if inp.semantic and self.persistent:
            if row.trusted and row.embedding:
                self.index.add(row.key, row.scope, np.frombuffer(row.embedding, dtype=np.float32))
            else:
                self.index.remove(row.key)
        session.add(row)
        return bool(row.trusted)

    def _agreeing(self, session: Session, row: CacheRow, inp: CacheRecordInput) -> int:
        """Other auto-resolved runs that gave the same answer to a question with the same
        meaning (cosine >= the serving threshold) in the same scope: paraphrases agree
        as well as repeats do. The newest AGREEMENT_WINDOW candidates are compared."""
        if row.embedding is None:
            return 0
        q = (
            select(CacheRow.key, CacheRow.output, CacheRow.embedding)
            .where(CacheRow.scope == row.scope, CacheRow.step == row.step)
            .where(CacheRow.trust == "auto", CacheRow.evicted_at.is_(None))  # type: ignore[union-attr]
            .where(CacheRow.key != row.key, CacheRow.embedding.is_not(None))  # type: ignore[union-attr]
            .order_by(CacheRow.updated_at.desc())
            .limit(AGREEMENT_WINDOW)
        )
        mine = np.frombuffer(row.embedding, dtype=np.float32)
        agreeing = 0
        for _key, output, embedding in session.exec(q):
            if output != row.output or len(embedding) != len(row.embedding):
                continue
            if (
                float(np.dot(mine, np.frombuffer(embedding, dtype=np.float32)))
                >= inp.min_similarity
            ):
                agreeing += 1
        return agreeing

    def _evict(self, session: Session, key: str, reason: str) -> int:
        row = session.get(CacheRow, key)
        if row is None or row.evicted_at is not None:
            return 0
        row.trusted, row.evicted_at, row.evict_reason = False, _now(), reason[:128]
        row.updated_at = _now()
        session.add(row)
        if row.embedding is not None and self.persistent:
            self.index.remove(key)
        return 1

    # --- for `aiflow cache` -----------------------------------------------------------

    def rows(self, step: str | None = None, include_untrusted: bool = False) -> list[CacheRow]:
        with Session(self.store.engine) as session:
            q = select(CacheRow).order_by(CacheRow.hit_count.desc(), CacheRow.key)
            if step:
                q = q.where(CacheRow.step == step)
            if not include_untrusted:
                q = q.where(CacheRow.trusted)
            return list(session.exec(q))

    def get(self, prefix: str) -> list[CacheRow]:
        with Session(self.store.engine) as session:
            return list(session.exec(select(CacheRow).where(CacheRow.key.startswith(prefix))))

    def evict(self, key: str, reason: str) -> int:
        with Session(self.store.engine) as session:
            n = self._evict(session, key, reason)
            session.commit()
            return n

    def stats(self) -> dict[str, Any]:
        with Session(self.store.engine) as session:
            q = select(
                CacheRow.step,
                CacheRow.trust,
                CacheRow.trusted,
                func.count(),
                func.sum(CacheRow.hit_count),
            ).group_by(CacheRow.step, CacheRow.trust, CacheRow.trusted)
            return {
                (step, trust, bool(trusted)): (n, int(hits or 0))
                for step, trust, trusted, n, hits in session.exec(q)
            }


class CacheActivities:
    """The cache's local activities (short store I/O on the orchestration worker)."""

    def __init__(self, cache: AnswerCache) -> None:
        self.cache = cache

    @activity.defn(name="cache_lookup")
    def cache_lookup(self, inp: CacheLookup) -> CacheLookupResult:
        return self.cache.lookup(inp)

    @activity.defn(name="cache_record")
    def cache_record(self, inp: CacheRecordInput) -> CacheRecordResult:
        return self.cache.record(inp)
