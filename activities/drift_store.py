"""The drift detector's side of the store: the input features of every run, and the
windowed reads a drift check aggregates.

`runs` keeps a run's outputs (outcome, category, confidence) but not its input: the
normalised ticket is stored only for runs that went to review. So each run that passes
intake records a `run_features` row — lengths and the categorical fields the channel
set, never text — through the `record_run_features` local activity.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import exists
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from activities.review_store import CorrectionRow, ReviewRow
from activities.store import RunRow, create_schema
from contracts import RunFeaturesInput


class RunFeatureRow(SQLModel, table=True):
    __tablename__ = "run_features"

    workflow_id: str = Field(primary_key=True, max_length=128)
    ticket_id: str = Field(max_length=64)
    created_at: datetime = Field(index=True)
    body_chars: int
    language: str | None = Field(default=None, max_length=16)
    channel: str = Field(max_length=16)
    customer_tier: str = Field(max_length=16)
    metadata_keys: int = 0


class RunOutputs(NamedTuple):
    outcome: str | None
    category: str | None
    confidence: float | None
    reviewed: bool  # a review was opened for the run (pending, decided or expired)


class RunInputs(NamedTuple):
    language: str | None
    channel: str
    customer_tier: str
    metadata_keys: int
    body_chars: int


class DriftStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        create_schema(self.engine, [RunFeatureRow.__table__])

    def put_features(self, inp: RunFeaturesInput, at: datetime | None = None) -> None:
        """Insert once per run: a retried activity keeps the first row and its time."""
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        row = inp.model_dump() | {"created_at": at or datetime.now(UTC)}
        stmt = insert(RunFeatureRow).values([row])
        with Session(self.engine) as session:
            session.exec(stmt.on_conflict_do_nothing(index_elements=["workflow_id"]))
            session.commit()

    def outputs(self, start: datetime, end: datetime) -> list[RunOutputs]:
        """Runs first recorded in [start, end)."""
        reviewed = exists().where(ReviewRow.workflow_id == RunRow.workflow_id)
        query = select(RunRow.outcome, RunRow.category, RunRow.confidence, reviewed).where(
            RunRow.created_at >= start, RunRow.created_at < end
        )
        with Session(self.engine) as session:
            return [RunOutputs(*row) for row in session.exec(query).all()]

    def features(self, start: datetime, end: datetime) -> list[RunInputs]:
        """Input features recorded in [start, end): plain tuples, not ORM objects."""
        f = RunFeatureRow
        query = select(f.language, f.channel, f.customer_tier, f.metadata_keys, f.body_chars)
        query = query.where(f.created_at >= start, f.created_at < end)
        with Session(self.engine) as session:
            return [RunInputs(*row) for row in session.exec(query).all()]

    def review_actions(self, start: datetime, end: datetime) -> list[str]:
        """Terminal reviewer actions (approve / edit / reject) decided in [start, end)."""
        query = select(CorrectionRow.action).where(
            CorrectionRow.decided_at >= start, CorrectionRow.decided_at < end
        )
        with Session(self.engine) as session:
            return list(session.exec(query).all())
