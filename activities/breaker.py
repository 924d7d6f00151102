"""Circuit breakers per provider/model, kept in the store so every worker shares them.

    closed ───── failure_threshold failures within window_seconds ─────▶ open
      ▲                                                                 │   ▲
      │                                 open_seconds pass: the first    │   │
      │ probe succeeds                  acquire() takes the ONE probe   ▼   │ probe fails
      └─────────────────────────────────────────────────────────── half_open
                       (others are refused; a probe silent for probe_timeout_seconds
                        frees the slot, and the next acquire() takes a new probe)

Only RETRYABLE provider failures (429, 5xx, timeouts, connection errors) are reported
with `record_failure`: a 400 or 401 says nothing about the provider's health, so the
caller classifies first and reports those as neither success nor failure.

Each provider/model also has a CONFIG breaker (key `config:<provider>/<model>`, the same
table and state machine): one 401/403/404 `trip`s it open at once, for the longer
`config_open_seconds`, since a bad key or model id fails every call until an operator
fixes it. `acquire` consults it first, so while it is open no run calls that model, and
its probe (one call per open period, fleet-wide) closes it once the fix is deployed.

Every transition is atomic across processes on SQLite and PostgreSQL: granting the probe
is one conditional UPDATE whose rowcount says who won; failures, successes and resets
run in a transaction that first upserts the row, which locks it (PostgreSQL) or takes
the database's write lock (SQLite), so a read-modify-write cannot interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Dialect, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from activities.store import create_schema

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_CLOSED: dict[str, Any] = {
    "state": CLOSED,
    "failures": 0,
    "opened_at": None,
    "probe_started_at": None,
}


def now_utc() -> datetime:
    return datetime.now(UTC)


CONFIG_PREFIX = "config:"


def breaker_key(provider: str, model: str) -> str:
    return f"{provider}/{model}"


def config_key(key: str) -> str:
    """The config breaker of a provider/model key."""
    return CONFIG_PREFIX + key


class UTCDateTime(TypeDecorator):
    """Aware UTC in and out: timestamptz on PostgreSQL, naive UTC text on SQLite (whose
    fixed-width text compares in time order, which the conditional updates rely on)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: breakers keep aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(nullable: bool) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime, nullable=nullable))


class BreakerRow(SQLModel, table=True):
    __tablename__ = "breakers"

    key: str = Field(primary_key=True, max_length=200)  # provider/model
    state: str = Field(default=CLOSED, max_length=16)
    failures: int = 0  # in the current window
    window_started_at: datetime = _time(nullable=False)
    opened_at: datetime | None = _time(nullable=True)
    probe_started_at: datetime | None = _time(nullable=True)
    updated_at: datetime = _time(nullable=False)


T = BreakerRow.__table__.c


class BreakerPolicy(BaseModel):
    failure_threshold: int = 5
    window_seconds: float = 60
    open_seconds: float = 30  # open this long before one half-open probe is allowed
    probe_timeout_seconds: float = 60  # a probe that never reports back frees the slot
    config_open_seconds: float = 300  # a config breaker's open period before its probe


class BreakerDecision(BaseModel):
    allowed: bool
    state: str
    retry_at: datetime | None = None  # when refused: the earliest a call may be let through
    reason: str | None = None  # when refused: "outage" or "config"


class BreakerState(BaseModel):
    key: str
    state: str
    failures: int
    window_started_at: datetime
    opened_at: datetime | None
    probe_started_at: datetime | None
    updated_at: datetime
    retry_at: datetime | None


class CircuitBreakers:
    """Synchronous breaker API; activities call it from the worker's thread pool."""

    def __init__(
        self, engine: Engine, policy: BreakerPolicy, clock: Callable[[], datetime] = now_utc
    ) -> None:
        self.engine, self.policy, self.clock = engine, policy, clock

    def create_schema(self) -> None:
        create_schema(self.engine, [BreakerRow.__table__])

    def acquire(self, key: str) -> BreakerDecision:
        """May a call to `key` go out now? Its config breaker first, then its outage
        breaker; open → at most one caller, the probe, gets yes. One read when both are
        closed (the common case)."""
        now = self.clock()
        keys = [config_key(key), key]
        rows = self._get_many(keys)
        decision = BreakerDecision(allowed=True, state=CLOSED)
        for k, reason in zip(keys, ("config", "outage"), strict=True):
            row = rows.get(k)
            if row is not None and row.state != CLOSED and self._retry_at(row) <= now:
                if self._take_probe(k, now):
                    decision = BreakerDecision(allowed=True, state=HALF_OPEN)
                    continue
                row = self._get(k)  # another caller, maybe in another process, won it
            if row is not None and row.state != CLOSED:
                return BreakerDecision(
                    allowed=False, state=row.state, retry_at=self._retry_at(row), reason=reason
                )
        return decision

    def record_success(self, *keys: str) -> None:
        """half_open → closed; closed → failures reset. Open ignores it: that call started
        before the breaker opened. One read for all `keys` when there is nothing to do."""
        for key, row in self._get_many(list(keys)).items():
            if row.state == OPEN or (row.state == CLOSED and row.failures == 0):
                continue  # the common case: no write, so no lock
            with self._locked(key) as (conn, row, now):
                if row.state != OPEN:
                    conn.execute(_set(key, **_CLOSED, updated_at=now))

    def trip(self, key: str) -> bool:
        """Open `key` at once (a config breaker: the first 401/404 says it all). True only
        for the call that opened a closed breaker: the one that raises the alert."""
        with self._locked(key) as (conn, row, now):
            if row.state == OPEN:
                return False
            opened = dict(state=OPEN, opened_at=now, probe_started_at=None, updated_at=now)
            conn.execute(_set(key, **opened, failures=row.failures + 1))
            return row.state == CLOSED

    def record_failure(self, key: str) -> None:
        """Count a RETRYABLE failure: closed → open at the threshold within the window;
        half_open → open again. Open ignores it (a call from before it opened)."""
        with self._locked(key) as (conn, row, now):
            p = self.policy
            if row.state == HALF_OPEN:
                opened = dict(state=OPEN, opened_at=now, probe_started_at=None, updated_at=now)
                conn.execute(_set(key, **opened))
            elif row.state == CLOSED:
                fresh = row.failures == 0 or row.window_started_at <= now - _s(p.window_seconds)
                values: dict[str, Any] = {"failures": 1 if fresh else row.failures + 1}
                if fresh:
                    values["window_started_at"] = now
                if values["failures"] >= p.failure_threshold:
                    values |= {"state": OPEN, "opened_at": now}
                conn.execute(_set(key, **values, updated_at=now))

    def is_open(self, key: str) -> bool:
        """Open and still cooling down: a read, no probe taken. For retries already in
        flight, which should stop instead of hammering a provider that is down."""
        row = self._get(key)
        return row is not None and row.state == OPEN and self._retry_at(row) > self.clock()

    def reset(self, key: str) -> bool:
        """Close `key` by hand (the operator knows the provider is back); False if unknown."""
        now = self.clock()
        with self.engine.begin() as conn:
            values = _CLOSED | {"window_started_at": now, "updated_at": now}
            return conn.execute(_set(key, **values)).rowcount == 1

    def snapshot(self) -> list[BreakerState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(BreakerRow.__table__).order_by(T.key)).all()
        return [self._state(BreakerRow.model_validate(r._mapping)) for r in rows]

    # --- internals ---------------------------------------------------------------------

    def _take_probe(self, key: str, now: datetime) -> bool:
        """Compare-and-set: only the caller whose UPDATE still matches gets the probe."""
        p = self.policy
        due = or_(
            (T.state == OPEN) & (T.opened_at <= now - _s(self._open_seconds(key))),
            (T.state == HALF_OPEN) & (T.probe_started_at <= now - _s(p.probe_timeout_seconds)),
        )
        probe = dict(state=HALF_OPEN, probe_started_at=now, updated_at=now)
        with self.engine.begin() as conn:
            return conn.execute(_set(key, **probe).where(due)).rowcount == 1

    def _state(self, row: BreakerRow) -> BreakerState:
        retry_at = self._retry_at(row) if row.state != CLOSED else None
        return BreakerState(**row.model_dump(), retry_at=retry_at)

    def _retry_at(self, row: BreakerRow) -> datetime:
        if row.state == HALF_OPEN:  # the latest the in-flight probe's slot frees
            return row.probe_started_at + _s(self.policy.probe_timeout_seconds)
        return row.opened_at + _s(self._open_seconds(row.key))

    def _open_seconds(self, key: str) -> float:
        p = self.policy
        return p.config_open_seconds if key.startswith(CONFIG_PREFIX) else p.open_seconds

    def _get(self, key: str) -> BreakerRow | None:
        return self._get_many([key]).get(key)

    def _get_many(self, keys: list[str]) -> dict[str, BreakerRow]:
        with self.engine.connect() as conn:
            found = conn.execute(select(BreakerRow.__table__).where(T.key.in_(keys))).all()
        return {r.key: BreakerRow.model_validate(r._mapping) for r in found}

    @contextmanager
    def _locked(self, key: str) -> Iterator[tuple[Connection, BreakerRow, datetime]]:
        """A transaction holding `key`'s row: the upsert creates it (closed) or locks it."""
        now = self.clock()
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(BreakerRow).values(
            key=key, state=CLOSED, failures=0, window_started_at=now, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"key": stmt.excluded.key})
        with self.engine.begin() as conn:
            conn.execute(stmt)
            found = conn.execute(select(BreakerRow.__table__).where(T.key == key)).one()
            yield conn, BreakerRow.model_validate(found._mapping), now


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _set(key: str, **values: Any) -> Any:
    return update(BreakerRow).where(T.key == key).values(**values)
