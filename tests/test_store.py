"""The store on both backends: idempotent upserts, exact round-trips, concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import delete, func
from sqlmodel import Session, SQLModel, select

from activities.store import BlobRow, RunRow, StepRow, Store
from contracts import (
    Outcome,
    PersistRunInput,
    Rejection,
    Stage,
    StepKind,
    StepRecord,
    TriageResult,
)

T0 = datetime(2025, 3, 9, 14, 30, 15, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))
REVIEW_REASONS = ["low_confidence", "rule:vip_review"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path}/s.db")
        s.create_schema()
    else:
        # One database per session: empty the tables so no test sees another's rows.
        s = Store(request.getfixturevalue("pg_url"))
        s.create_schema()
        with Session(s.engine) as session:
            for table in (StepRow, RunRow, BlobRow):
                session.exec(delete(table))
            session.commit()
    yield s
    s.close()


def count(store: Store, table: type, *where) -> int:
    with Session(store.engine) as session:
        return session.exec(select(func.count()).select_from(table).where(*where)).one()


def step(seq: int, **overrides) -> StepRecord:
    started = T0 + timedelta(seconds=seq)
    fields = {
        "seq": seq,
        "step": f"step{seq}",
        "kind": StepKind.MODEL if seq % 2 else StepKind.CODE,
        "started_at": started,
        "ended_at": started + timedelta(milliseconds=250),
        "latency_ms": 250.5,
        "outcome": "ok",
        "model": "gpt-4.1-mini" if seq % 2 else None,
        "provider": "openai" if seq % 2 else None,
        "prompt_version": "classify@3" if seq % 2 else None,
        "input_tokens": 100 * seq,
        "output_tokens": 10 * seq,
        "tokens_estimated": seq == 3,
        "cost_usd": 0.000125 * seq,
        "confidence": 0.5 + seq / 100 if seq % 2 else None,
        "attempt": 1 if seq % 2 else None,
        "reasoning": f"reasoning for step {seq}" if seq % 2 else None,
        "details": {"seq": seq, "flags": ["a", "b"], "nested": {"ok": True}},
    }
    return StepRecord(**(fields | overrides))


def steps(n: int) -> list[StepRecord]:
    return [step(seq) for seq in range(1, n + 1)]


def in_review(workflow_id: str, n_steps: int = 6) -> PersistRunInput:
    return PersistRunInput(
        workflow_id=workflow_id,
        run_id="run-1",
        ticket_id=f"T-{workflow_id}",
        stage=Stage.REVIEW,
        result=None,
        steps=steps(n_steps),
        review_reasons=REVIEW_REASONS,
    )


def result_for(workflow_id: str, step_list: list[StepRecord]) -> TriageResult:
    return TriageResult(
        workflow_id=workflow_id,
        ticket_id=f"T-{workflow_id}",
        outcome=Outcome.EDITED,
        route="billing-tier2",
        category="billing",
        priority="high",
        confidence=0.83,
        reply="Hello Maria, we refunded the duplicate charge.",
        rejections=[Rejection(code="note", field="body", message="trimmed signature")],
        reasons=REVIEW_REASONS,
        error=None,
        cost_usd=0.0042,
        latency_ms=1834.25,
        model_calls=3,
        steps=step_list,
    )


def finished(workflow_id: str, n_steps: int = 7) -> PersistRunInput:
    step_list = steps(n_steps)
    return PersistRunInput(
        workflow_id=workflow_id,
        run_id="run-1",
        ticket_id=f"T-{workflow_id}",
        stage=Stage.DONE,
        result=result_for(workflow_id, step_list),
        steps=step_list,
        review_reasons=REVIEW_REASONS,
    )


def test_review_then_done_keeps_one_run_row_and_all_steps(store: Store):
    store.save_run(in_review("wf-1"))

    assert count(store, RunRow) == 1
    assert count(store, StepRow) == 6
    row = store.get_run("wf-1")
    assert (row.run_id, row.ticket_id, row.stage) == ("run-1", "T-wf-1", "review")
    assert row.needs_review is True
    assert row.review_reasons == REVIEW_REASONS
    assert (row.outcome, row.category, row.route, row.priority) == (None, None, None, None)
    assert row.confidence is None
    assert row.cost_usd == pytest.approx(0.000125 * 21)
    assert row.model_calls == 0
    assert row.result is None
    assert store.get_result("wf-1") is None
    assert store.get_steps("wf-1") == steps(6)
    created_at = row.created_at

    done = finished("wf-1")
    store.save_run(done)

    assert count(store, RunRow) == 1
    assert count(store, StepRow) == 7
    assert count(store, StepRow, StepRow.workflow_id == "wf-1") == 7
    row = store.get_run("wf-1")
    assert row.stage == "done"
    assert row.needs_review is False
    assert (row.outcome, row.category, row.route, row.priority) == (
        "edited",
        "billing",
        "billing-tier2",
        "high",
    )
    assert row.confidence == 0.83
    assert row.cost_usd == 0.0042
    assert row.latency_ms == 1834.25
    assert row.model_calls == 3
    assert row.created_at == created_at  # an update never rewrites when the run began
    assert row.updated_at >= created_at
    assert store.get_result("wf-1") == done.result
    assert store.get_steps("wf-1") == done.steps


def test_get_result_round_trips_aware_datetimes(store: Store):
    # A non-UTC offset must come back as the same instant, never as a shifted wall clock.
    step_list = [
        step(1),
        step(2, started_at=datetime(2025, 7, 1, 23, 59, 59, 999999, tzinfo=CEST)),
        step(3, ended_at=datetime(2024, 12, 31, 0, 0, 0, 1, tzinfo=timezone(-timedelta(hours=5)))),
    ]
    run = PersistRunInput(
        workflow_id="wf-tz",
        run_id="run-1",
        ticket_id="T-tz",
        stage=Stage.DONE,
        result=result_for("wf-tz", step_list),
        steps=step_list,
    )
    store.save_run(run)

    got = store.get_result("wf-tz")
    assert got == run.result
    for back, sent in zip(got.steps, step_list, strict=True):
        for field in ("started_at", "ended_at"):
            value = getattr(back, field)
            assert value.utcoffset() == timedelta(0), (field, value)
            assert value == getattr(sent, field)
    assert got.steps[1].started_at == datetime(2025, 7, 1, 21, 59, 59, 999999, tzinfo=UTC)
    row = store.get_run("wf-tz")
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.updated_at.utcoffset() == timedelta(0)


def test_identical_saves_are_idempotent(store: Store):
    run = finished("wf-retry", n_steps=5)
    store.save_run(run)
    first = store.get_run("wf-retry")

    store.save_run(run)
    store.save_run(run)

    assert count(store, RunRow) == 1
    assert count(store, StepRow) == 5
    again = store.get_run("wf-retry")
    assert again.model_dump(exclude={"updated_at"}) == first.model_dump(exclude={"updated_at"})
    assert store.get_steps("wf-retry") == run.steps
    assert store.get_result("wf-retry") == run.result


def test_concurrent_saves_from_threads_all_land(store: Store):
    runs = [
        in_review(f"wf-{i:02d}", n_steps=3) if i % 2 else finished(f"wf-{i:02d}", n_steps=3)
        for i in range(50)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(store.save_run, runs))

    assert count(store, RunRow) == 50
    assert count(store, StepRow) == 150
    assert {r.workflow_id for r in store.list_runs()} == {r.workflow_id for r in runs}
    assert count(store, RunRow, RunRow.needs_review) == 25


def test_put_blob_is_content_addressed_and_deduplicated(store: Store):
    content = "Hello, Grüße 🌍"
    expected = "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()

    assert store.put_blob(content) == expected
    assert store.put_blob(content) == expected
    assert count(store, BlobRow) == 1

    other = store.put_blob(content + "!")
    assert other == "sha256:" + hashlib.sha256((content + "!").encode("utf-8")).hexdigest()
    assert count(store, BlobRow) == 2
    with Session(store.engine) as session:
        assert session.get(BlobRow, expected).chars == 14


def test_get_blob_round_trips_large_unicode(store: Store):
    alphabet = "aé€𝄞中文\n\tעבריתé́🙂 \\'\"%_"
    content = (alphabet * (100_000 // len(alphabet) + 1))[:100_000]
    assert len(content) == 100_000

    ref = store.put_blob(content)

    assert store.get_blob(ref) == content


def test_get_blob_unknown_ref_is_none(store: Store):
    store.put_blob("known")
    assert store.get_blob("sha256:" + "0" * 64) is None


def test_list_runs_filters_by_stage(store: Store):
    store.save_run(in_review("wf-a"))
    store.save_run(finished("wf-b"))
    store.save_run(in_review("wf-c"))
    classify = in_review("wf-d").model_copy(update={"stage": Stage.CLASSIFY, "review_reasons": []})
    store.save_run(classify)
    store.save_run(in_review("wf-e"))
    store.save_run(finished("wf-e"))  # left review: must no longer be listed

    assert [r.workflow_id for r in store.list_runs(stage="review")] == ["wf-a", "wf-c"]
    assert [r.workflow_id for r in store.list_runs(stage="done")] == ["wf-b", "wf-e"]
    assert [r.workflow_id for r in store.list_runs()] == ["wf-a", "wf-b", "wf-c", "wf-d", "wf-e"]
    assert store.list_runs(stage="qa") == []


def test_unicode_and_large_reasoning_round_trip(store: Store):
    reasoning = ("Клиент пишет: «двойное списание» — 二重請求です 🧾💳. " * 5_000) + "end\u2028"
    big = step(
        1,
        reasoning=reasoning,
        outcome="route:billing-ü",
        details={"note": "naïve café ✓", "emoji": ["😀", "𝄞"], "ключ": {"深い": 1}},
    )
    run = PersistRunInput(
        workflow_id="wf-üñí-😀",
        run_id="run-1",
        ticket_id="T-ü",
        stage=Stage.REVIEW,
        steps=[big, step(2)],
        review_reasons=["reason with ünïcödé"],
    )
    store.save_run(run)

    got = store.get_steps("wf-üñí-😀")
    assert got == run.steps
    assert len(got[0].reasoning) == len(reasoning)
    assert got[0].reasoning == reasoning
    assert store.get_run("wf-üñí-😀").review_reasons == ["reason with ünïcödé"]


def test_workers_starting_at_once_on_a_fresh_database_all_create_the_schema(tmp_path):
    """Several workers create the schema at the same moment; losers of the race retry."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    def start_one(_: int) -> list[str]:
        store = Store(url)
        try:
            store.create_schema()
            return sorted(SQLModel.metadata.tables)
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(start_one, range(8)))
    assert results == [sorted(SQLModel.metadata.tables)] * 8


def _create_when_released(url: str, barrier) -> None:
    barrier.wait()
    Store(url).create_schema()


def test_processes_creating_the_schema_at_once_all_succeed(tmp_path):
    """Workers starting together on a fresh SQLite file race to create each table."""
    ctx = multiprocessing.get_context("spawn")
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_create_when_released, args=(url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names())
    assert {"runs", "steps", "blobs", "model_responses", "reviews", "notifications"} <= tables


def test_the_steps_table_has_a_column_for_every_step_record_field():
    """StepRow is StepRecord plus the run's ids: a field added to one and not the other
    would be lost on save (or fail it), so they are kept in step here."""
    from activities.store import StepRow
    from contracts import StepRecord

    assert set(StepRow.model_fields) - {"workflow_id", "run_id"} == set(StepRecord.model_fields)
