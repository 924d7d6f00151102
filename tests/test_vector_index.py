"""Both vector indexes behind one contract; PgVectorIndex on the real local PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from activities.embeddings import default_embedder
from activities.vector_index import (
    InMemoryIndex,
    PgVectorIndex,
    VectorIndex,
    index_for,
    pgvector_available,
)

DIM = 4
E1, E2, E3, E4 = np.eye(DIM, dtype=np.float32)


@pytest.fixture(scope="module")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


def own_table(engine: Engine) -> Iterator[str]:
    name = f"test_vectors_{uuid.uuid4().hex[:10]}"
    yield name
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


@pytest.fixture
def pg_table(pg_engine: Engine) -> Iterator[str]:
    yield from own_table(pg_engine)


@pytest.fixture(params=["memory", "pgvector"])
def index(request, pg_engine: Engine) -> Iterator[VectorIndex]:
    if request.param == "memory":
        yield InMemoryIndex(DIM)
        return
    for table in own_table(pg_engine):
        yield PgVectorIndex(pg_engine, DIM, table=table)


def keys(hits: list[tuple[str, float]]) -> list[str]:
    return [k for k, _ in hits]


def test_search_returns_the_scope_entries_best_first_with_cosines(index):
    index.add("a", "s", E1)
    index.add("b", "s", E1 + E2)  # cosine 0.7071 to E1
    index.add("c", "s", E2)  # cosine 0 to E1
    index.add("d", "s", -E1)  # cosine -1
    hits = index.search("s", E1, k=3)
    assert keys(hits) == ["a", "b", "c"]
    assert [s for _, s in hits] == pytest.approx([1.0, 0.5**0.5, 0.0], abs=1e-6)
    assert keys(index.search("s", E1)) == ["a"]  # k defaults to 1
    assert keys(index.search("s", E1, k=10)) == ["a", "b", "c", "d"]
    assert index.search("s", E1, k=0) == []
    assert len(index) == 4


def test_vectors_are_normalised_on_the_way_in(index):
    index.add("long", "s", 7.5 * E1)
    assert index.search("s", 0.01 * E1) == [("long", pytest.approx(1.0, abs=1e-6))]


def test_add_is_an_upsert(index):
    index.add("k", "s", E1)
    index.add("other", "s", E3)
    index.add("k", "s", E2)
    assert len(index) == 2
    assert index.search("s", E2) == [("k", pytest.approx(1.0, abs=1e-6))]
    hits = index.search("s", E2 + 0.5 * E3, k=5)
    assert keys(hits) == ["k", "other"]
    assert [s for _, s in hits] == pytest.approx([0.8**0.5, 0.2**0.5], abs=1e-6)


def test_upsert_into_another_scope_moves_the_key(index):
    index.add("k", "old", E1)
    index.add("k", "new", E1)
    assert index.search("old", E1) == []
    assert keys(index.search("new", E1)) == ["k"]
    assert len(index) == 1


def test_scopes_are_isolated(index):
    index.add("a1", "tenant-a", E1)
    index.add("b1", "tenant-b", E1)
    index.add("b2", "tenant-b", E2)
    assert keys(index.search("tenant-a", E2, k=5)) == ["a1"]
    assert keys(index.search("tenant-b", E1, k=5)) == ["b1", "b2"]
    assert index.search("tenant-c", E1) == []


def test_remove(index):
    for name, v in (("a", E1), ("b", E2), ("c", E3), ("d", E4)):
        index.add(name, "s", v)
    index.remove("b")
    index.remove("b")  # removing a missing key is a no-op
    index.remove("never-added")
    assert len(index) == 3
    assert keys(index.search("s", E1 + E2 + E3 + E4, k=5)) == ["a", "c", "d"]
    # The rows that moved into the hole are still found under their own keys.
    assert [keys(index.search("s", v)) for v in (E1, E3, E4)] == [["a"], ["c"], ["d"]]
    for name in ("a", "c", "d"):
        index.remove(name)
    assert (len(index), index.search("s", E1)) == (0, [])
    index.add("again", "s", E2)
    assert keys(index.search("s", E2)) == ["again"]


def test_add_many_upserts_and_last_vector_of_a_key_wins(index):
    index.add("x", "s", E4)
    index.add_many([("x", "s", E1), ("y", "s", E2), ("y", "s", E3), ("z's", "t", E1)])
    assert len(index) == 3
    assert keys(index.search("s", E3)) == ["y"]
    assert keys(index.search("s", E1)) == ["x"]
    assert keys(index.search("t", E1)) == ["z's"]


def test_bad_vectors_are_refused(index):
    with pytest.raises(ValueError, match="3 dimensions, the index has 4"):
        index.add("k", "s", np.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        index.add("k", "s", np.zeros(DIM))
    with pytest.raises(ValueError, match="finite"):
        index.search("s", np.array([1.0, np.nan, 0.0, 0.0]))
    assert len(index) == 0


def test_both_indexes_find_the_same_neighbours(pg_engine, pg_table):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((300, 32)).astype(np.float32)
    rows = [(f"k{i}", f"s{i % 3}", data[i]) for i in range(300)]
    memory, pg = InMemoryIndex(32), PgVectorIndex(pg_engine, 32, table=pg_table)
    memory.add_many(rows)
    pg.add_many(rows)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    for q in rng.standard_normal((10, 32)).astype(np.float32):
        sims = unit[0::3] @ (q / np.linalg.norm(q))  # scope s0 holds rows 0, 3, 6, ...
        expected = [f"k{3 * i}" for i in np.argsort(-sims)[:5]]
        got_memory, got_pg = memory.search("s0", q, k=5), pg.search("s0", q, k=5)
        assert keys(got_memory) == keys(got_pg) == expected
        assert [s for _, s in got_pg] == pytest.approx([s for _, s in got_memory], abs=1e-5)


def test_pg_table_shape(pg_engine, pg_table):
    PgVectorIndex(pg_engine, 384, table=pg_table)
    PgVectorIndex(pg_engine, 384, table=pg_table)  # a second start finds it in place
    columns = {c["name"]: str(c["type"]) for c in inspect(pg_engine).get_columns(pg_table)}
    assert columns == {"key": "VARCHAR", "scope": "VARCHAR", "embedding": "VECTOR(384)"}
    insp = inspect(pg_engine)
    assert insp.get_pk_constraint(pg_table)["constrained_columns"] == ["key"]
    assert [i["column_names"] for i in insp.get_indexes(pg_table)] == [["scope"]]


def test_pg_refuses_a_table_of_another_width(pg_engine, pg_table):
    PgVectorIndex(pg_engine, 8, table=pg_table)
    with pytest.raises(ValueError, match=f"table {pg_table} holds 8-d vectors, this index is 4-d"):
        PgVectorIndex(pg_engine, 4, table=pg_table)


def test_pg_refuses_unsafe_table_names(pg_engine):
    with pytest.raises(ValueError, match="must match"):
        PgVectorIndex(pg_engine, 4, table="x; DROP TABLE users")


def test_pgvector_is_available_here_and_not_on_sqlite(pg_engine, tmp_path):
    sqlite = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert (pgvector_available(pg_engine), pgvector_available(sqlite)) == (True, False)
    assert type(index_for(sqlite, 4)) is InMemoryIndex


def test_index_for_postgres_is_pgvector_on_the_default_table(fresh_pg_url):
    engine = create_engine(fresh_pg_url)
    try:
        index = index_for(engine, 384)
        assert (type(index), index.table_name) == (PgVectorIndex, "cache_vectors")
        assert inspect(engine).has_table("cache_vectors")
    finally:
        engine.dispose()


def test_real_embeddings_find_the_paraphrase_in_the_right_scope():
    e = default_embedder()
    faq = {
        "pw": "How do I reset my password?",
        "refund": "What is your refund policy?",
        "ship": "How long does delivery to Canada take?",
    }
    index = InMemoryIndex(e.dim)
    index.add_many((k, "support", v) for k, v in zip(faq, e.embed(list(faq.values())), strict=True))
    index.add("pw-other-tenant", "sales", e.embed([faq["pw"]])[0])
    q = e.embed(["I forgot my password, how can I change it?"])[0]
    (best, sim), (second, sim2) = index.search("support", q, k=2)
    assert (best, second) == ("pw", "refund")
    # Figures of this model file (tests/test_embeddings.py pins the same pair).
    assert (sim, sim2) == (pytest.approx(0.894, abs=0.005), pytest.approx(0.141, abs=0.005))


def test_in_memory_index_without_dim_takes_the_first_vectors():
    index = InMemoryIndex()
    assert index.search("s", np.ones(7)) == []
    with pytest.raises(ValueError, match="3 dimensions, the index has 2"):
        index.add_many([("a", "s", np.ones(2)), ("b", "s", np.ones(3))])
    assert (index.dim, len(index)) == (None, 0)  # nothing of the refused batch went in
    index.add("a", "s", np.array([3.0, 4.0]))
    assert index.search("s", np.array([0.0, 1.0])) == [("a", pytest.approx(0.8, abs=1e-6))]
