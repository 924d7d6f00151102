"""Nearest-neighbour search over cache embeddings: in memory (numpy) or in PostgreSQL (pgvector)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Column, Engine, Index, MetaData, String, Table, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert

TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,50}")


class VectorIndex(Protocol):
    """Keyed unit vectors, each in one scope; search never crosses scopes."""

    def add(self, key: str, scope: str, vector: np.ndarray) -> None:
        """Insert, or replace the key's vector and scope."""
        ...

    def remove(self, key: str) -> None: ...

    def search(self, scope: str, vector: np.ndarray, k: int = 1) -> list[tuple[str, float]]:
        """Up to k (key, cosine similarity) of `scope`, most similar first, ties by key."""
        ...

    def __len__(self) -> int: ...


def unit(vector: Any, dim: int | None) -> np.ndarray:
    """`vector` as a float32 unit vector (of `dim`, unless None); both indexes store and
    query these, so a dot product is the cosine whatever the caller passed."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if (dim is None and v.size == 0) or (dim is not None and v.shape != (dim,)):
        raise ValueError(f"vector has {v.size} dimensions, the index has {dim}")
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("vector must be finite and non-zero (cosine is undefined)")
    return v / norm


class _Scope:
    """One scope's rows: a contiguous matrix (grown by doubling) and its keys by row."""

    def __init__(self, dim: int) -> None:
        self.matrix = np.empty((16, dim), dtype=np.float32)
        self.keys: list[str] = []


class InMemoryIndex:
    """Exact search with numpy: one matrix-vector product per lookup, O(n·d) for the
    scope's n rows. The index for SQLite stores; rebuilt from the store on start.
    Without `dim`, the first vector added sets it."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim
        self._scopes: dict[str, _Scope] = {}
        self._where: dict[str, tuple[str, int]] = {}  # key -> (scope, row)
        self._lock = threading.Lock()

    def add(self, key: str, scope: str, vector: np.ndarray) -> None:
        self.add_many([(key, scope, vector)])

    def add_many(self, rows: Iterable[tuple[str, str, np.ndarray]]) -> None:
        """`add` for each (key, scope, vector), under one lock; all or none."""
        prepared = [(k, s, unit(v, self.dim)) for k, s, v in rows]
        with self._lock:
            dim = self.dim or (prepared[0][2].size if prepared else None)
            for _, _, v in prepared:  # checked before any row goes in
                if v.size != dim:
                    raise ValueError(f"vector has {v.size} dimensions, the index has {dim}")
            self.dim = dim
            for key, scope, v in prepared:
                self._put(key, scope, v)

    def _put(self, key: str, scope: str, v: np.ndarray) -> None:
        where = self._where.get(key)
        if where is not None and where[0] == scope:
            self._scopes[scope].matrix[where[1]] = v
            return
        if where is not None:
            self._drop(key)
        s = self._scopes.setdefault(scope, _Scope(self.dim))
        n = len(s.keys)
        if n == len(s.matrix):
            s.matrix = np.concatenate([s.matrix, np.empty_like(s.matrix)])
        s.matrix[n] = v
        s.keys.append(key)
        self._where[key] = (scope, n)

    def remove(self, key: str) -> None:
        with self._lock:
            if key in self._where:
                self._drop(key)

    def _drop(self, key: str) -> None:
        # The scope's last row moves into the hole: removal is O(d), rows stay contiguous.
        scope, row = self._where.pop(key)
        s = self._scopes[scope]
        last = len(s.keys) - 1
        if row != last:
            s.matrix[row] = s.matrix[last]
            s.keys[row] = s.keys[last]
            self._where[s.keys[row]] = (scope, row)
        s.keys.pop()
        if not s.keys:
            del self._scopes[scope]

    def search(self, scope: str, vector: np.ndarray, k: int = 1) -> list[tuple[str, float]]:
        q = unit(vector, self.dim)
        with self._lock:
            s = self._scopes.get(scope)
            if q.size != self.dim:  # only when empty with no dim yet: nothing to find
                return []
            if s is None or k <= 0:
                return []
            n = len(s.keys)
            sims = s.matrix[:n] @ q
            if k < n:  # every row tied with the k-th best stays in, for the key tie-break
                kth = -np.partition(-sims, k - 1)[k - 1]
                rows = np.flatnonzero(sims >= kth)
            else:
                rows = np.arange(n)
            # Ties go by key, as in PgVectorIndex: both give the same answer.
            best = sorted(rows.tolist(), key=lambda i: (-sims[i], s.keys[i]))[:k]
            return [(s.keys[i], float(sims[i])) for i in best]

    def __len__(self) -> int:
        return len(self._where)


class PgVectorIndex:
    """Exact search in PostgreSQL with pgvector: its own table, `ORDER BY embedding <=> q`
    within the scope. No ANN index: for a cache, an approximate search would only add misses;
    an exact scan costs ~9 ms at 10k rows, ~70 ms at 100k (bench/vector_index.py)."""

    def __init__(self, engine: Engine, dim: int, table: str = "cache_vectors") -> None:
        from pgvector.sqlalchemy import Vector  # only where PostgreSQL is used

        if not TABLE_NAME.fullmatch(table):
            raise ValueError(f"table name {table!r} must match {TABLE_NAME.pattern}")
        self.engine, self.dim, self.table_name = engine, dim, table
        self._t = Table(
            table,
            MetaData(),
            Column("key", String, primary_key=True),
            Column("scope", String, nullable=False),
            Column("embedding", Vector(dim), nullable=False),
            Index(f"{table}_scope_idx", "scope"),
        )
        with engine.begin() as conn:
            # IF NOT EXISTS alone races when two workers start at once; checking first
            # keeps the common case (already there) free of that.
            if conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")) is None:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            self._t.create(conn, checkfirst=True)
            # An existing table of another model's width would fail on every insert; say so now.
            found = conn.scalar(
                text(
                    "SELECT atttypmod FROM pg_attribute "
                    "WHERE attrelid = to_regclass(:t) AND attname = 'embedding'"
                ),
                {"t": table},
            )
        if found != dim:
            raise ValueError(f"table {table} holds {found}-d vectors, this index is {dim}-d")

    def add(self, key: str, scope: str, vector: np.ndarray) -> None:
        row = {"key": key, "scope": scope, "embedding": unit(vector, self.dim)}
        stmt = insert(self._t).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"scope": stmt.excluded.scope, "embedding": stmt.excluded.embedding},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def add_many(self, rows: Iterable[tuple[str, str, np.ndarray]]) -> None:
        """Bulk upsert: binary COPY into a temporary table, then one INSERT ... ON CONFLICT."""
        from pgvector.psycopg.vector import register_vector_info
        from psycopg.types import TypeInfo

        # The last vector of a key wins, as with repeated `add`; one row per key for COPY.
        prepared = list({k: (k, s, unit(v, self.dim)) for k, s, v in rows}.values())
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            with conn.cursor() as cur:
                # The vector dumpers go on this cursor only, not the pooled connection.
                register_vector_info(cur, TypeInfo.fetch(conn, "vector"))
                cur.execute(f"CREATE TEMP TABLE _load (LIKE {self.table_name}) ON COMMIT DROP")
                with cur.copy(
                    "COPY _load (key, scope, embedding) FROM STDIN (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(["text", "text", "vector"])
                    for row in prepared:
                        cp.write_row(row)
                cur.execute(
                    f"INSERT INTO {self.table_name} SELECT * FROM _load "
                    "ON CONFLICT (key) DO UPDATE "
                    "SET scope = excluded.scope, embedding = excluded.embedding"
                )
                # Fresh statistics: after a bulk load the planner's stale row estimate
                # picks a bitmap scan over the scope index, about 2x slower than a seq scan.
                cur.execute(f"ANALYZE {self.table_name}")
            conn.commit()
        finally:
            raw.close()

    def remove(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self._t).where(self._t.c.key == key))

    def search(self, scope: str, vector: np.ndarray, k: int = 1) -> list[tuple[str, float]]:
        q = unit(vector, self.dim)
        if k <= 0:
            return []
        distance = self._t.c.embedding.cosine_distance(q).label("distance")
        stmt = (
            select(self._t.c.key, distance)
            .where(self._t.c.scope == scope)
            .order_by(distance, self._t.c.key)
            .limit(k)
        )
        with self.engine.connect() as conn:
            return [(key, 1.0 - float(d)) for key, d in conn.execute(stmt)]

    def __len__(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(self._t)))


def pgvector_available(engine: Engine) -> bool:
    """Whether `engine` is PostgreSQL with the pgvector extension installed or installable.
    Connection errors propagate: a database that is down is not a missing extension."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        sql = "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        return conn.scalar(text(sql)) is not None


def index_for(engine: Engine, dim: int) -> VectorIndex:
    """PgVectorIndex where the store is PostgreSQL with pgvector, InMemoryIndex otherwise."""
    return PgVectorIndex(engine, dim) if pgvector_available(engine) else InMemoryIndex(dim)
