"""The gateway's response log with group commit, on SQLite and PostgreSQL: many concurrent
writers share transactions, each returns only once its own row is committed, and a write
that fails is raised to every caller waiting on it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError
from sqlmodel import Session, select

from activities.providers.base import ModelResponse
from activities.response_log import ResponseLog
from activities.store import ResponseRow, Store
from contracts import Usage
from tests.conftest import PG_ADMIN_URL

WRITERS = 500


def answer(n: int) -> ModelResponse:
    return ModelResponse(
        text=f'{{"n": {n}}}',
        usage=Usage(input_tokens=100 + n, output_tokens=n % 50),
        model="offline-knn-v1",
        provider="offline",
        latency_ms=float(n),
    )


def rows_of(store: Store, prefix: str) -> dict[tuple[str, str, str], dict]:
    with Session(store.engine) as session:
        found = session.exec(
            select(ResponseRow).where(ResponseRow.workflow_id.startswith(prefix))
        ).all()
        return {(r.workflow_id, r.step, r.request_hash): r.response for r in found}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    s.create_schema()
    yield s
    s.close()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database without aiflow's tables, dropped afterwards."""
    name = f"aiflow_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_concurrent_writers_share_one_commit_and_each_row_is_durable_on_return(store, url):
    log = ResponseLog(store)
    reader = Store(url)  # another connection pool: sees only what was committed
    prefix = f"wf-{uuid.uuid4().hex[:8]}-"
    seen_committed: list[bool] = []

    async def writer(n: int) -> None:
        await log.put(f"{prefix}{n}", "classify", f"h{n}", answer(n))
        got = await asyncio.to_thread(reader.get_response, f"{prefix}{n}", "classify", f"h{n}")
        seen_committed.append(got == answer(n))

    try:
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    finally:
        reader.close()
    assert seen_committed == [True] * WRITERS
    # Every writer queued before the flush started, so all rows went in one transaction.
    assert (log.commits, log.rows) == (1, WRITERS)
    assert rows_of(store, prefix) == {
        (f"{prefix}{n}", "classify", f"h{n}"): answer(n).model_dump(mode="json")
        for n in range(WRITERS)
    }


async def test_writers_arriving_during_a_write_share_the_next_commit(store):
    log = ResponseLog(store)
    prefix = f"wf-{uuid.uuid4().hex[:8]}-"
    first = [
        asyncio.create_task(log.put(f"{prefix}{n}", "draft", "h", answer(n))) for n in range(200)
    ]
    while log._pending or log._flusher is None:  # the flusher has taken the first 200
        await asyncio.sleep(0)
    second = [
        asyncio.create_task(log.put(f"{prefix}{n}", "draft", "h", answer(n)))
        for n in range(200, 500)
    ]
    await asyncio.gather(*first, *second)
    assert (log.commits, log.rows) == (2, 500)
    assert len(rows_of(store, prefix)) == 500


async def test_the_first_answer_for_a_key_wins_within_one_batch(store):
    log = ResponseLog(store)
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*(log.put(wid, "classify", "same", answer(n)) for n in (1, 2, 3)))
    await log.put(wid, "classify", "same", answer(4))
    assert rows_of(store, wid) == {(wid, "classify", "same"): answer(1).model_dump(mode="json")}


async def test_concurrent_lookups_share_one_query_and_get_exactly_their_answers(store):
    log = ResponseLog(store)
    prefix = f"wf-{uuid.uuid4().hex[:8]}-"
    store.put_responses(
        [(f"{prefix}{n}", "classify", f"h{n}", answer(n)) for n in range(0, 300, 2)]
    )
    found = await asyncio.gather(
        *(log.get(f"{prefix}{n}", "classify", f"h{n}") for n in range(300)),
        log.get(f"{prefix}0", "classify", "other-hash"),
    )
    assert found == [answer(n) if n % 2 == 0 else None for n in range(300)] + [None]
    assert log.queries == 1


async def test_without_group_commit_each_answer_is_its_own_transaction(store):
    log = ResponseLog(store, group_commit=False)
    prefix = f"wf-{uuid.uuid4().hex[:8]}-"
    await asyncio.gather(*(log.put(f"{prefix}{n}", "classify", "h", answer(n)) for n in range(40)))
    assert (log.commits, log.rows) == (40, 40)
    assert len(rows_of(store, prefix)) == 40


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_failed_batch_write_is_raised_to_every_waiting_caller(
    backend, tmp_path, request: pytest.FixtureRequest
):
    """The table does not exist (schema never created): the one transaction fails, and
    every caller of that batch gets the database's error; none returns as if recorded."""
    if backend == "sqlite":
        url, error = f"sqlite:///{tmp_path / 'no-schema.db'}", OperationalError
    else:
        url, error = request.getfixturevalue("empty_pg_url"), ProgrammingError
    store = Store(url)
    log = ResponseLog(store)
    try:
        outcomes = await asyncio.gather(
            *(log.put(f"wf-{n}", "classify", "h", answer(n)) for n in range(50)),
            return_exceptions=True,
        )
    finally:
        store.close()
    assert [type(o) for o in outcomes] == [error] * 50
    assert all("model_responses" in str(o) for o in outcomes)
    assert (log.commits, log.rows) == (0, 0)


async def test_a_row_the_database_rejects_fails_only_its_own_caller(pg_url):
    """PostgreSQL enforces VARCHAR(128) on workflow_id (SQLite does not): the batch fails
    with a DataError, is written again row by row, and only the bad row's caller fails."""
    store = Store(pg_url)
    store.create_schema()
    log = ResponseLog(store)
    prefix = f"wf-{uuid.uuid4().hex[:8]}-"
    ids = [f"{prefix}{n}" for n in range(20)]
    ids[7] = prefix + "x" * 200
    try:
        outcomes = await asyncio.gather(
            *(log.put(wid, "classify", "h", answer(n)) for n, wid in enumerate(ids)),
            return_exceptions=True,
        )
        assert [type(o) for o in outcomes] == [type(None)] * 7 + [DataError] + [type(None)] * 12
        assert set(rows_of(store, prefix)) == {(w, "classify", "h") for w in ids if w != ids[7]}
        assert (log.commits, log.rows) == (19, 19)  # the failed batch, then one row each
    finally:
        store.close()
