"""The gateway's response log, written with group commit.

Every provider answer is recorded against (workflow, step, request hash) before the
activity returns, so a retry after a worker died reuses it instead of paying again. With
hundreds of calls in flight, one transaction per answer makes the store's commit the
bottleneck (SQLite has one writer; each commit is an fsync). So answers that arrive while
a write is under way wait for the next one, and the next one writes them all in one
transaction. Durability is unchanged: `put` returns only once the caller's own row is
committed, and raises the write's error otherwise (the activity then fails and retries).
Lookups of earlier answers are grouped the same way: one query for all waiting callers.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import DataError, IntegrityError

from activities.providers.base import ModelResponse
from activities.store import ResponseKey, Store

Key = tuple[str, str, str]  # workflow id, step, request hash

# Errors caused by one row's data (a value too long for its column, a NUL byte on
# PostgreSQL): a batch that hits one is written again row by row, so one bad answer
# cannot fail the others. Any other error (database down, locked) fails the whole batch.
ROW_ERRORS = (DataError, IntegrityError)


class ResponseLog:
    """Reads and group-committed writes of recorded answers, for one event loop.

    group_commit=False writes each answer in its own transaction and reads each alone
    (the behaviour before group commit, kept for the benchmark's comparison)."""

    def __init__(self, store: Store, *, group_commit: bool = True) -> None:
        self.store = store
        self.group_commit = group_commit
        self._pending: list[tuple[ResponseKey, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lookups: list[tuple[Key, asyncio.Future[ModelResponse | None]]] = []
        self._reader: asyncio.Task[None] | None = None
        # One writer and one reader thread: a commit never queues behind reads in the
        # default pool, and SQLite allows one writer at a time anyway.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="response-log-w")
        self._reading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="response-log-r")
        self.commits = 0  # transactions that recorded answers (rows / commits = batch size)
        self.rows = 0
        self.queries = 0  # lookups' queries (grouped: fewer than lookups)

    async def get(self, workflow_id: str, step: str, request_hash: str) -> ModelResponse | None:
        """The answer an earlier attempt recorded, if any. Lookups that arrive together
        (or while one is under way) share one query."""
        if not self.group_commit:
            return await asyncio.to_thread(self.store.get_response, workflow_id, step, request_hash)
        found = asyncio.get_running_loop().create_future()
        self._lookups.append(((workflow_id, step, request_hash), found))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="response-log-read")
        return await found

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while self._lookups:
            batch, self._lookups = self._lookups, []
            try:
                self.queries += 1
                rows = await loop.run_in_executor(
                    self._reading, self.store.get_responses, [key for key, _ in batch]
                )
            except Exception as err:  # noqa: BLE001 - every waiting caller gets it
                for _, found in batch:
                    if not found.done():
                        found.set_exception(err)
            else:
                for key, found in batch:
                    if not found.done():
                        found.set_result(rows.get(key))

    async def put(
        self, workflow_id: str, step: str, request_hash: str, response: ModelResponse
    ) -> None:
        """Return once this answer is committed; raise the write's error if it was not."""
        entry = (workflow_id, step, request_hash, response)
        if not self.group_commit:
            await self._write([entry])
            return
        done = asyncio.get_running_loop().create_future()
        self._pending.append((entry, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="response-log-flush")
        await done

    async def _write(self, entries: list[ResponseKey]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self.store.put_responses, entries)
        self.commits += 1
        self.rows += len(entries)

    async def _flush(self) -> None:
        """Write what is pending, then what arrived meanwhile, until nothing is left."""
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write([entry for entry, _ in batch])
            except ROW_ERRORS as err:
                if len(batch) == 1:
                    _settle(batch, err)
                else:  # find the bad row(s): each answer alone
                    for item in batch:
                        try:
                            await self._write([item[0]])
                        except Exception as one_err:  # noqa: BLE001 - goes to its caller
                            _settle([item], one_err)
                        else:
                            _settle([item], None)
            except Exception as err:  # noqa: BLE001 - every waiting caller gets it
                _settle(batch, err)
            else:
                _settle(batch, None)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._reading.shutdown(wait=True)


def _settle(batch: list[tuple[ResponseKey, asyncio.Future[None]]], err: Exception | None) -> None:
    for _, done in batch:
        if done.done():  # the caller was cancelled; its row may be committed all the same
            continue
        if err is None:
            done.set_result(None)
        else:
            done.set_exception(err)
