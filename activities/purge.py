"""The retention purge: delete what is older than its retention (AIFLOW_RETENTION_*).

Only finished runs (stage `done`) and their rows go; a run still waiting (for a review, a
model, a fix) keeps everything, and so does its pending review. Feedback (reviews decided
or expired, corrections) has its own retention, so training data can outlive the runs.
The answer cache is shared knowledge with its own TTL and is not touched here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.engine import Connection, Engine
from temporalio import activity

from activities.drift_store import RunFeatureRow
from activities.erasure import FINAL_STAGE, review_ticket
from activities.review_store import CorrectionRow, NotificationRow, ReviewRow
from activities.store import BlobRow, ResponseRow, RunRow, StepRow
from contracts.purge import PurgeInput, PurgeResult
from protection.blobs import PayloadBlobRow

log = structlog.get_logger("aiflow.purge")
PURGE_TABLES = (
    "runs",
    "steps",
    "model_responses",
    "notifications",
    "run_features",
    "reviews",
    "corrections",
    "blobs",
    "payload_blobs",
)


def _t(model: Any) -> Any:
    return model.__table__


class Purger:
    """Deletes (or, dry, counts) expired rows of one store in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def purge(self, inp: PurgeInput) -> PurgeResult:
        now = inp.now or datetime.now(UTC)
        r = inp.retention
        result = PurgeResult(now=now, dry_run=inp.dry_run, removed=dict.fromkeys(PURGE_TABLES, 0))
        present = set(inspect(self.engine).get_table_names())
        runs = _t(RunRow)
        finished = select(runs.c.workflow_id).where(runs.c.stage == FINAL_STAGE)
        unfinished = select(runs.c.workflow_id).where(runs.c.stage != FINAL_STAGE)

        def cutoff(name: str, days: float | None) -> datetime | None:
            if days is None:
                return None
            result.cutoffs[name] = at = now - timedelta(days=days)
            return at

        def apply(conn: Connection, table: str, where: Any) -> None:
            if table not in present:
                return
            t = next(m for m in MODELS if m.__tablename__ == table).__table__
            if inp.dry_run:
                n = conn.execute(select(func.count()).select_from(t).where(where)).scalar_one()
            else:
                n = conn.execute(delete(t).where(where)).rowcount or 0
            result.removed[table] += n

        with self.engine.begin() as conn:
            old_runs = None
            if (at := cutoff("runs", r.runs_days)) is not None:
                old_runs = finished.where(runs.c.updated_at < at)
                # children first: the subquery reads the runs that are about to go
                for model in (StepRow, ResponseRow, NotificationRow, RunFeatureRow):
                    apply(conn, model.__tablename__, _t(model).c.workflow_id.in_(old_runs))
                apply(conn, "payload_blobs", _t(PayloadBlobRow).c.workflow_id.in_(old_runs))
            if (at := cutoff("steps", r.steps_days)) is not None:
                steps, responses = _t(StepRow), _t(ResponseRow)
                for t, when in ((steps, steps.c.ended_at), (responses, responses.c.created_at)):
                    where = (when < at) & t.c.workflow_id.in_(finished)
                    if old_runs is not None and inp.dry_run:  # already counted with their runs
                        where = where & t.c.workflow_id.not_in(old_runs)
                    apply(conn, t.name, where)
            if (at := cutoff("feedback", r.feedback_days)) is not None:
                apply(conn, "corrections", _t(CorrectionRow).c.decided_at < at)
                reviews = _t(ReviewRow)
                apply(
                    conn, "reviews", (reviews.c.requested_at < at) & (reviews.c.status != "pending")
                )
            if (at := cutoff("blobs", r.blobs_days)) is not None:
                blobs, payloads = _t(BlobRow), _t(PayloadBlobRow)
                where = blobs.c.created_at < at
                if waiting := self._waiting_body_refs(conn, present):
                    where = where & blobs.c.ref.not_in(sorted(waiting))
                apply(conn, "blobs", where)
                where = (payloads.c.created_at < at) & (
                    payloads.c.workflow_id.is_(None) | payloads.c.workflow_id.not_in(unfinished)
                )
                if old_runs is not None and inp.dry_run:  # already counted with their runs
                    where = where & (
                        payloads.c.workflow_id.is_(None) | payloads.c.workflow_id.not_in(old_runs)
                    )
                apply(conn, "payload_blobs", where)
            if old_runs is not None:
                apply(conn, "runs", runs.c.workflow_id.in_(old_runs))
        log.info("purge.done", dry_run=inp.dry_run, **result.removed)
        return result

    @staticmethod
    def _waiting_body_refs(conn: Connection, present: set[str]) -> set[str]:
        """The large bodies pending reviews point to: a reviewer may still open them."""
        if "reviews" not in present:
            return set()
        reviews = _t(ReviewRow)
        q = select(reviews.c.request).where(reviews.c.status == "pending")
        refs = (review_ticket(request).get("body_ref") for (request,) in conn.execute(q))
        return {ref for ref in refs if isinstance(ref, str)}


MODELS = (
    RunRow,
    StepRow,
    ResponseRow,
    NotificationRow,
    RunFeatureRow,
    ReviewRow,
    CorrectionRow,
    BlobRow,
    PayloadBlobRow,
)


class PurgeActivities:
    """The purge, bound to the worker's store."""

    def __init__(self, engine: Engine) -> None:
        self.purger = Purger(engine)

    @activity.defn(name="retention_purge")
    def purge(self, inp: PurgeInput) -> PurgeResult:
        return self.purger.purge(inp)
