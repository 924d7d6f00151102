"""Retention: rows past their retention go, newer ones and waiting runs stay (SQLite and
PostgreSQL); the purge workflow runs from its schedule on a real worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from activities.purge import Purger
from activities.review_store import CorrectionRow, NotificationRow, ReviewRow
from activities.store import BlobRow, RunRow, StepRow, Store
from contracts.purge import PurgeInput, PurgeResult, Retention
from protection.blobs import PayloadBlobRow, SqlBlobStore
from starter import purge
from tests.conftest import make_settings, running_worker
from tests.test_erasure import counts, seed

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RETENTION = Retention(runs_days=365, steps_days=90, feedback_days=730, blobs_days=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aiflow.db'}"
    return request.getfixturevalue("fresh_pg_url")


def age(store: Store, wid: str, days: float) -> None:
    """Make every row of a run (and its review's body) `days` old."""
    at = NOW - timedelta(days=days)
    with store.engine.begin() as conn:
        for model, columns in (
            (RunRow, ("created_at", "updated_at")),
            (StepRow, ("started_at", "ended_at")),
            (ReviewRow, ("requested_at",)),
            (CorrectionRow, ("requested_at", "decided_at")),
            (NotificationRow, ("created_at",)),
            (PayloadBlobRow, ("created_at",)),
        ):
            t = model.__table__
            conn.execute(
                sa.update(t).where(t.c.workflow_id == wid).values(dict.fromkeys(columns, at))
            )


def age_blob(store: Store, ref: str, days: float) -> None:
    t = BlobRow.__table__
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(t).where(t.c.ref == ref).values(created_at=NOW - timedelta(days=days))
        )


def build(url: str) -> tuple[Store, dict[str, str]]:
    store = Store(url)
    store.create_schema()
    blobs = SqlBlobStore(store.engine)
    waiting_ref = store.put_blob("the long body of a waiting run " * 30)
    old_ref = store.put_blob("the long body of an old finished run " * 30)
    runs = {
        "ancient": seed(store, "a@example.com", decided=True, body_ref=old_ref),  # 800 d
        "old": seed(store, "b@example.com", decided=True),  # 400 d
        "middle": seed(store, "c@example.com", decided=True),  # 100 d
        "new": seed(store, "d@example.com", decided=True),  # 10 d
        "waiting": seed(store, "e@example.com", decided=False, body_ref=waiting_ref),  # 800 d
    }
    for name, wid in runs.items():
        blobs.put_sync(f"payload of {name}".encode(), wid)
    for name, days in (
        ("ancient", 800),
        ("old", 400),
        ("middle", 100),
        ("new", 10),
        ("waiting", 800),
    ):
        age(store, runs[name], days)
    age_blob(store, waiting_ref, 800)
    age_blob(store, old_ref, 800)
    return store, runs


def test_purge_deletes_what_is_past_retention_and_keeps_waiting_runs(store_url):
    store, runs = build(store_url)
    purger = Purger(store.engine)
    expected = {
        "runs": 2,  # ancient, old (waiting is 800 days old but still waiting)
        "steps": 6,  # ancient's and old's 2 each, then middle's 2 (past 90 days)
        "model_responses": 0,
        "notifications": 2,
        "run_features": 0,
        "reviews": 1,  # ancient's decided review; the waiting run's pending one stays
        "corrections": 1,  # ancient's (800 > 730 days)
        "blobs": 1,  # the old run's body; the waiting review's body stays
        "payload_blobs": 3,  # ancient, old (with their runs), middle (past 30 days)
    }
    dry = purger.purge(PurgeInput(retention=RETENTION, now=NOW, dry_run=True))
    assert dry.removed == expected
    assert counts(store_url)["runs"] == 5
    done = purger.purge(PurgeInput(retention=RETENTION, now=NOW))
    assert done.removed == expected
    assert done.cutoffs["runs"] == NOW - timedelta(days=365)
    assert sorted(r.workflow_id for r in store.list_runs()) == sorted(
        [runs["middle"], runs["new"], runs["waiting"]]
    )
    assert counts(store_url) == {
        "runs": 3,
        "steps": 4,  # new's and waiting's
        "reviews": 4,  # old's (400 < 730 days), middle's, new's and the pending one
        "corrections": 3,
        "notifications": 3,
        "blobs": 1,
        "payload_blobs": 2,
    }
    again = purger.purge(PurgeInput(retention=RETENTION, now=NOW))
    assert set(again.removed.values()) == {0}
    store.close()


def test_none_keeps_forever(tmp_path):
    store, _ = build(f"sqlite:///{tmp_path / 'aiflow.db'}")
    result = Purger(store.engine).purge(PurgeInput(retention=Retention(), now=NOW))
    assert set(result.removed.values()) == {0} and result.cutoffs == {}
    store.close()


def test_cli_purge_dry_run_prints_the_table(tmp_path, capsys):
    settings = make_settings(tmp_path)
    store, _ = build(settings.store_url)
    assert purge.main(["--dry-run"], None, settings) == 0
    out = capsys.readouterr().out
    assert "ROWS WOULD GO" in out and counts(settings.store_url)["runs"] == 5
    store.close()


async def test_schedule_runs_the_purge_workflow(env, tmp_path):
    settings = make_settings(tmp_path)
    store, runs = build(settings.store_url)
    # real time here: the rows were aged back from NOW, far enough from today's clock
    settings = settings.model_copy(
        update={
            "retention_runs_days": 1.0,
            "retention_steps_days": None,
            "retention_feedback_days": None,
            "retention_blobs_days": None,
        }
    )
    schedule_id = f"{purge.SCHEDULE_ID}-{uuid.uuid4().hex[:8]}"
    async with running_worker(env.client, settings):
        sch = purge.purge_schedule(settings, timedelta(days=1))
        sch.action.id = schedule_id
        handle = await env.client.create_schedule(schedule_id, sch)
        try:
            await handle.trigger()
            for _ in range(100):
                desc = await handle.describe()
                if desc.info.recent_actions:
                    break
                await asyncio.sleep(0.1)
            wid = desc.info.recent_actions[-1].action.workflow_id
            result = await env.client.get_workflow_handle(wid, result_type=PurgeResult).result()
        finally:
            await handle.delete()
    assert result.removed["runs"] == 4  # every finished run; never the waiting one
    assert [r.workflow_id for r in store.list_runs()] == [runs["waiting"]]
    store.close()
