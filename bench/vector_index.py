"""`python -m bench.vector_index`: what one semantic-cache lookup costs: embedding a sentence,
then a top-1 search at 10k and 100k entries in InMemoryIndex and PgVectorIndex."""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import numpy as np
from sqlalchemy import create_engine, text

from activities.embeddings import default_embedder
from activities.vector_index import InMemoryIndex, PgVectorIndex, VectorIndex

PG_URL = os.environ.get("AIFLOW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SIZES = (10_000, 100_000)
SCOPE = "bench"
# Questions of the kind a cache sees; distinct, so no tokenizer or ONNX cache flatters them.
SENTENCES = [
    "How do I reset my password?",
    "What is the refund policy for annual plans?",
    "My invoice shows a charge I do not recognise, can you explain it?",
    "Can I export my data to CSV?",
    "The app crashes when I upload a photo larger than 10 MB.",
    "Which regions is the service available in?",
    "How long does shipping to Canada take?",
    "Please cancel my subscription at the end of this month.",
    "Is there a discount for non-profit organisations?",
    "Why was my account locked after three login attempts?",
]


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(samples_ms, [50, 99])
    return float(p50), float(p99)


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    m = rng.standard_normal((n, dim), dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def time_searches(index: VectorIndex, queries: np.ndarray) -> tuple[float, float]:
    for q in queries[:3]:  # warm-up: first-touch pages, plan caches
        index.search(SCOPE, q, k=1)
    samples = []
    for q in queries:
        start = time.perf_counter()
        index.search(SCOPE, q, k=1)
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def time_embedding(rounds: int) -> tuple[float, float, float]:
    """(first call incl. model load, p50, p99) in ms for one sentence per call."""
    embedder = default_embedder()
    start = time.perf_counter()
    embedder.embed([SENTENCES[0]])
    load_ms = (time.perf_counter() - start) * 1000
    samples = []
    for i in range(rounds):
        sentence = SENTENCES[i % len(SENTENCES)]
        start = time.perf_counter()
        embedder.embed([sentence])
        samples.append((time.perf_counter() - start) * 1000)
    return (load_ms, *percentiles(samples))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=100, help="lookups timed per run")
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL database with pgvector")
    parser.add_argument("--skip-pg", action="store_true", help="in-memory index only")
    args = parser.parse_args(argv)

    dim = default_embedder().dim
    rng = np.random.default_rng(7)
    data = unit_rows(rng, max(SIZES), dim)
    queries = unit_rows(rng, args.queries, dim)
    load_ms, embed_ms, embed_p99 = time_embedding(200)
    rows: list[tuple[str, int, float, float, float]] = []
    figures: dict[str, str] = {}

    def run(label: str, make, n: int) -> None:
        index = make()
        start = time.perf_counter()
        index.add_many((f"k{i}", SCOPE, data[i]) for i in range(n))
        load_s = time.perf_counter() - start
        p50, p99 = time_searches(index, queries)
        rows.append((label, n, p50, p99, load_s))
        figures[f"{label}_{n // 1000}k_ms"] = f"{p50:.3f}"

    for n in SIZES:
        run("inmem", lambda: InMemoryIndex(dim), n)
    if args.skip_pg:
        figures |= {f"pg_{n // 1000}k_ms": "skipped" for n in SIZES}
    else:
        engine = create_engine(args.pg_url)
        for n in SIZES:
            table = f"bench_vectors_{uuid.uuid4().hex[:8]}"  # its own table, dropped after
            try:
                run("pg", lambda t=table: PgVectorIndex(engine, dim, table=t), n)
            finally:
                with engine.begin() as conn:
                    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()

    print(f"embedder {default_embedder().name} ({dim}-d): first call {load_ms:.0f} ms")
    print(f"embed one sentence: p50 {embed_ms:.2f} ms, p99 {embed_p99:.2f} ms")
    print(f"{'index':<7}{'entries':>9}{'p50 ms':>9}{'p99 ms':>9}{'bulk load s':>13}")
    for label, n, p50, p99, load_s in rows:
        print(f"{label:<7}{n:>9}{p50:>9.3f}{p99:>9.3f}{load_s:>13.2f}")
    order = ["inmem_10k_ms", "inmem_100k_ms", "pg_10k_ms", "pg_100k_ms"]
    last = " ".join(f"{k}={figures[k]}" for k in order)
    print(f"vector_index: {last} embed_ms={embed_ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
