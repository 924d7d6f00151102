"""The store: sqlmodel tables for runs, steps and large bodies, with idempotent writes.

Table models stay here, at the store's edge; wire models (contracts) are converted on
the way in and out. Every write is an upsert on a natural key, so a retried activity
never duplicates a row. SQLite by default, PostgreSQL through `DATABASE_URL`.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, event, inspect, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from activities import review_store
from activities.providers.base import ModelResponse
from contracts import Notification, PersistRunInput, ReviewRequest, StepRecord, TriageResult
from contracts.items import ItemRecord
from decisions.sensitive import mask
from protection import sealed


def _now() -> datetime:
    return datetime.now(UTC)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"

    workflow_id: str = Field(primary_key=True, max_length=128)
    run_id: str = Field(max_length=64)
    ticket_id: str = Field(index=True, max_length=64)
    stage: str = Field(index=True, max_length=16)
    # keyed hash of the customer's e-mail (activities/erasure.py), never the address:
    # how `aiflow erase` finds a customer's runs once the JSON columns are sealed
    customer_key: str | None = Field(default=None, index=True, max_length=100)
    outcome: str | None = Field(default=None, index=True, max_length=16)
    route: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, index=True, max_length=32)
    priority: str | None = Field(default=None, max_length=16)
    confidence: float | None = None
    needs_review: bool = Field(default=False, index=True)
    review_reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    model_calls: int = 0
    result: dict[str, Any] | None = Field(
        default=None, sa_column=Column(sealed.SealedJSON("runs.result"))
    )
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class StepRow(SQLModel, table=True):
    __tablename__ = "steps"

    workflow_id: str = Field(primary_key=True, max_length=128)
    seq: int = Field(primary_key=True)
    run_id: str = Field(max_length=64)
    step: str = Field(index=True, max_length=32)
    kind: str = Field(max_length=16)
    started_at: datetime
    ended_at: datetime
    latency_ms: float
    outcome: str = Field(max_length=64)
    model: str | None = Field(default=None, max_length=128)
    provider: str | None = Field(default=None, max_length=32)
    prompt_version: str | None = Field(default=None, max_length=64)
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float = 0.0
    confidence: float | None = None
    attempt: int | None = None
    reasoning: str | None = Field(
        default=None, sa_column=Column(sealed.SealedText("steps.reasoning"))
    )
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(sealed.SealedJSON("steps.details"))
    )


class BlobRow(SQLModel, table=True):
    """Bodies too large to travel in workflow history; content-addressed."""

    __tablename__ = "blobs"

    ref: str = Field(primary_key=True, max_length=80)
    chars: int
    # working data a live run reads back: never redacted; put_blob masks text bodies,
    # base64 originals are only sealed (a mask would corrupt them)
    content: str = Field(
        sa_column=Column(
            sealed.SealedText("blobs.content", free_text=False, masked=False), nullable=False
        )
    )
    created_at: datetime = Field(default_factory=_now)


class ResponseRow(SQLModel, table=True):
    """Provider answers by (workflow, step, request hash): the double-pay guard."""

    __tablename__ = "model_responses"

    workflow_id: str = Field(primary_key=True, max_length=128)
    step: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(primary_key=True, max_length=64)
    # masked (a retry reuses the masked answer) and sealed, never redacted: the guard
    # must still return a usable answer
    response: dict[str, Any] = Field(
        sa_column=Column(
            sealed.SealedJSON("model_responses.response", free_text=False), nullable=False
        )
    )
    created_at: datetime = Field(default_factory=_now)


# (workflow id, step, request hash, answer): one entry of the response log.
ResponseKey = tuple[str, str, str, ModelResponse]
RESPONSE_KEYS_PER_QUERY = 500  # 3 bound values a key: far below SQLite's 32766 limit


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the worker
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def create_schema(engine: Engine, tables: list | None = None, attempts: int = 20) -> None:
    """Create missing tables, also when other processes do the same at the same moment.

    SQLite commits each CREATE TABLE on its own, so two workers starting together on a
    fresh file leapfrog table by table: the loser of each race gets "already exists" and
    tries again. Backing off lets the winner finish (five quick retries were once not
    enough for ten tables)."""
    for attempt in range(1, attempts + 1):
        try:
            SQLModel.metadata.create_all(engine, tables=tables)
            add_missing_columns(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == attempts:
                raise
            time.sleep(min(0.5, 0.05 * attempt))


# Columns added to tables after their first release: (table, column, SQL type, indexed).
# create_all never alters a table, and there are no migrations: this adds them.
ADDED_COLUMNS = [("runs", "customer_key", "VARCHAR(100)", True)]


def add_missing_columns(engine: Engine) -> list[str]:
    """Add each ADDED_COLUMNS column its existing table lacks (SQLite and PostgreSQL),
    with its index; idempotent, and safe when several workers start at once."""
    added: list[str] = []
    inspector = inspect(engine)
    for table, column, sql_type, indexed in ADDED_COLUMNS:
        if not inspector.has_table(table):
            continue
        present = {c["name"] for c in inspector.get_columns(table)}
        with engine.begin() as conn:
            if column not in present:
                guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
                try:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table} ADD COLUMN {guard}{column} {sql_type}"
                    )
                    added.append(f"{table}.{column}")
                except OperationalError as err:  # SQLite: another worker added it first
                    if "duplicate column" not in str(err).lower():
                        raise
            if indexed:
                conn.exec_driver_sql(
                    f"CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})"
                )
    return added


@contextmanager
def open_store(url: str) -> Iterator[Store]:
    """A store with its schema in place, closed on exit: for short-lived commands."""
    store = Store(url)
    try:
        store.create_schema()
        yield store
    finally:
        store.close()


class Store:
    """Synchronous store API; activities call it from the worker's thread pool."""

    def __init__(self, url: str, *, protection: sealed.Protection | None = None) -> None:
        """`protection`: how this store's text columns are kept (protection/sealed.py);
        None follows the process default that worker.py and the CLI install."""
        self.url = url
        self.engine = make_engine(url)
        if protection is not None:
            sealed.attach(self.engine, protection)

    def create_schema(self, tables: list | None = None) -> None:
        """Create missing tables. Several workers may start at once on a fresh database:
        one that loses the race to create a table sees it exist and tries again."""
        create_schema(self.engine, tables)

    def close(self) -> None:
        self.engine.dispose()

    # --- writes -------------------------------------------------------------------

    def _insert(self, table: type[SQLModel]):
        """INSERT with the dialect's ON CONFLICT support (SQLite and PostgreSQL)."""
        return (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(table)

    def _upsert(self, session: Session, table: type[SQLModel], rows: list[dict], keys: list[str]):
        if not rows:
            return
        stmt = self._insert(table).values(rows)
        updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys and c != "created_at"}
        session.exec(stmt.on_conflict_do_update(index_elements=keys, set_=updates))

    def save_run(self, run: PersistRunInput) -> None:
        """Insert or update the run and its steps in one transaction."""
        result = run.result
        row = {
            "workflow_id": run.workflow_id,
            "run_id": run.run_id,
            "ticket_id": run.ticket_id,
            "stage": run.stage.value,
            "needs_review": result is None and bool(run.review_reasons),
            "review_reasons": run.review_reasons,
            "created_at": _now(),
            "updated_at": _now(),
        }
        ticket = run.review.ticket if run.review is not None else None
        if ticket is not None and ticket.customer_email:  # else: an earlier write's stays
            from activities.erasure import customer_key  # noqa: PLC0415 - imports the store

            keyring = sealed.current(self.engine.dialect).keyring
            row["customer_key"] = customer_key(ticket.customer_email, keyring)
        if result is not None:
            row |= {
                "outcome": result.outcome.value,
                "route": result.route,
                "category": result.category,
                "priority": result.priority,
                "confidence": result.confidence,
                "cost_usd": result.cost_usd,
                "latency_ms": result.latency_ms,
                "model_calls": result.model_calls,
                "result": result.model_dump(mode="json", exclude={"steps"}),
            }
        else:
            row |= {"cost_usd": sum(s.cost_usd for s in run.steps)}
        steps = [
            {"workflow_id": run.workflow_id, "run_id": run.run_id, **s.model_dump()}
            for s in run.steps
        ]
        with Session(self.engine) as session:
            self._upsert(session, RunRow, [row], ["workflow_id"])
            self._upsert(session, StepRow, steps, ["workflow_id", "seq"])
            for table, rows, keys in review_store.review_rows(run):
                self._upsert(session, table, rows, keys)
            session.commit()

    def save_item(self, item: ItemRecord) -> None:
        """Insert or update a run of any workflow and its steps in one transaction (the
        item key goes in `ticket_id`, the column every report reads)."""
        row = {
            "workflow_id": item.workflow_id,
            "run_id": item.run_id,
            "ticket_id": item.item_key[:64],
            "stage": item.stage[:16],
            "outcome": item.outcome and item.outcome[:16],
            "route": item.route and item.route[:64],
            "category": item.category and item.category[:32],
            "confidence": item.confidence,
            "needs_review": item.needs_review,
            "review_reasons": item.review_reasons,
            "cost_usd": item.cost_usd or sum(s.cost_usd for s in item.steps),
            "latency_ms": item.latency_ms,
            "model_calls": item.model_calls,
            "result": {"workflow_type": item.workflow_type, **(item.result or {})},
            "created_at": _now(),
            "updated_at": _now(),
        }
        steps = [
            {"workflow_id": item.workflow_id, "run_id": item.run_id, **s.model_dump()}
            for s in item.steps
        ]
        with Session(self.engine) as session:
            self._upsert(session, RunRow, [row], ["workflow_id"])
            self._upsert(session, StepRow, steps, ["workflow_id", "seq"])
            session.commit()

    def put_blob(self, content: str) -> str:
        ref = "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()
        with Session(self.engine) as session:
            stmt = self._insert(BlobRow).values(ref=ref, chars=len(content), content=mask(content))
            session.exec(stmt.on_conflict_do_nothing(index_elements=["ref"]))
            session.commit()
        return ref

    def put_bytes(self, data: bytes) -> str:
        """Store a binary original (base64 in the blobs table); its own ref namespace."""
        ref = "b64:sha256:" + hashlib.sha256(data).hexdigest()
        content = base64.b64encode(data).decode("ascii")
        with Session(self.engine) as session:
            stmt = self._insert(BlobRow).values(ref=ref, chars=len(data), content=content)
            session.exec(stmt.on_conflict_do_nothing(index_elements=["ref"]))
            session.commit()
        return ref

    def put_response(
        self, workflow_id: str, step: str, request_hash: str, response: ModelResponse
    ) -> None:
        self.put_responses([(workflow_id, step, request_hash, response)])

    def put_responses(self, rows: list[ResponseKey]) -> None:
        """Record provider answers in ONE transaction (the first answer for a key wins).
        One cached statement, executed for many rows (executemany): no SQL compiled per
        batch."""
        now = _now()
        values = [
            {
                "workflow_id": workflow_id,
                "step": step,
                "request_hash": request_hash,
                "response": response.model_dump(mode="json"),
                "created_at": now,
            }
            for workflow_id, step, request_hash, response in rows
        ]
        stmt = self._insert(ResponseRow).on_conflict_do_nothing(
            index_elements=["workflow_id", "step", "request_hash"]
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, values)

    def put_notification(self, notice: Notification, delivered_to: str) -> None:
        row = review_store.notification_row(notice, _now(), delivered_to)
        with Session(self.engine) as session:
            self._upsert(session, review_store.NotificationRow, [row], ["key"])
            session.commit()

    # --- reads --------------------------------------------------------------------

    def pending_queue(
        self, f: review_store.QueueFilter, now: datetime, *, full: bool = False
    ) -> list[review_store.ReviewRow]:
        with Session(self.engine) as session:
            return review_store.pending_queue(session, f, now, full=full)

    def pending_reviews(self) -> list[ReviewRequest]:
        with Session(self.engine) as session:
            return review_store.pending_reviews(session)

    def corrections(self) -> list[review_store.CorrectionRow]:
        with Session(self.engine) as session:
            return review_store.corrections(session)

    def notifications(self, workflow_id: str | None = None) -> list[review_store.NotificationRow]:
        with Session(self.engine) as session:
            return review_store.notifications(session, workflow_id)

    def get_response(self, workflow_id: str, step: str, request_hash: str) -> ModelResponse | None:
        with Session(self.engine) as session:
            row = session.get(ResponseRow, (workflow_id, step, request_hash))
            return ModelResponse.model_validate(row.response) if row else None

    def get_responses(self, keys: list[tuple[str, str, str]]) -> dict[tuple, ModelResponse]:
        """Recorded answers for many (workflow id, step, request hash) keys at once."""
        table = ResponseRow.__table__
        columns = (table.c.workflow_id, table.c.step, table.c.request_hash)
        found: dict[tuple, ModelResponse] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), RESPONSE_KEYS_PER_QUERY):
                chunk = keys[i : i + RESPONSE_KEYS_PER_QUERY]
                query = select(*columns, table.c.response).where(tuple_(*columns).in_(chunk))
                for wid, step, request_hash, response in conn.execute(query):
                    found[(wid, step, request_hash)] = ModelResponse.model_validate(response)
        return found

    def get_blob(self, ref: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(BlobRow, ref)
            return row.content if row else None

    def get_bytes(self, ref: str) -> bytes | None:
        content = self.get_blob(ref) if ref.startswith("b64:") else None
        return base64.b64decode(content) if content is not None else None

    def get_run(self, workflow_id: str) -> RunRow | None:
        with Session(self.engine) as session:
            return session.get(RunRow, workflow_id)

    def get_result(self, workflow_id: str) -> TriageResult | None:
        run = self.get_run(workflow_id)
        if run is None or run.result is None:
            return None
        return TriageResult.model_validate(run.result | {"steps": self.get_steps(workflow_id)})

    def get_steps(self, workflow_id: str) -> list[StepRecord]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(StepRow).where(StepRow.workflow_id == workflow_id).order_by(StepRow.seq)
            ).all()
            return [StepRecord.model_validate(r, from_attributes=True) for r in rows]

    def list_runs(self, *, stage: str | None = None) -> list[RunRow]:
        with Session(self.engine) as session:
            query = select(RunRow).order_by(RunRow.created_at)
            if stage is not None:
                query = query.where(RunRow.stage == stage)
            return list(session.exec(query).all())
