"""`aiflow erase`: a customer's rows go from every table (SQLite and PostgreSQL), other
customers' stay; the column is added to old tables; runs in flight are ended and their
histories deleted on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.erasure import Eraser, customer_key, customer_keys
from activities.store import RunRow, Store, add_missing_columns, make_engine
from contracts import (
    Correction,
    Notification,
    PersistRunInput,
    ReviewAction,
    ReviewProposal,
    ReviewRequest,
    Stage,
    StepKind,
    StepRecord,
)
from contracts.tickets import NormalizedTicket
from protection.blobs import SqlBlobStore
from protection.keys import Keyring
from starter import erase
from tests.conftest import make_settings, running_worker
from tests.test_triage_workflow import start, ticket

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def step(seq: int) -> StepRecord:
    return StepRecord(
        seq=seq,
        step="intake",
        kind=StepKind.CODE,
        started_at=NOW,
        ended_at=NOW,
        latency_ms=1.0,
        outcome="ok",
    )


def seed(store: Store, email: str, *, decided: bool, body_ref: str | None = None) -> str:
    """One reviewed run of `email`: run, 2 steps, review, correction (if decided), notice."""
    wid = f"ticket-T-{uuid.uuid4().hex[:8]}"
    t = NormalizedTicket(
        ticket_id=wid[7:],
        subject="Charged twice for my subscription",
        body=f"Please refund me, {email} here, invoice INV-2291.",
        customer_email=email,
        channel="email",
        customer_tier="pro",
        body_ref=body_ref,
    )
    review = ReviewRequest(
        review_id=f"rv-{uuid.uuid4().hex[:12]}",
        version=1,
        workflow_id=wid,
        ticket_id=t.ticket_id,
        queue="general",
        ticket=t,
        proposal=ReviewProposal(category="billing", priority="high", reply="Refunded."),
        requested_at=NOW,
        sla_deadline=NOW + timedelta(days=1),
    )
    correction = (
        Correction(
            decision_id=f"d-{uuid.uuid4().hex[:8]}",
            review_id=review.review_id,
            action=ReviewAction.APPROVE,
            reviewer="ana@example.com",
            requested_at=NOW,
            decided_at=NOW + timedelta(hours=1),
            proposal=review.proposal,
            final=review.proposal,
        )
        if decided
        else None
    )
    store.save_run(
        PersistRunInput(
            workflow_id=wid,
            run_id=uuid.uuid4().hex,
            ticket_id=t.ticket_id,
            stage=Stage.DONE if decided else Stage.REVIEW,
            steps=[step(1), step(2)],
            review_reasons=["low_confidence"],
            review=review,
            review_status="decided" if decided else "pending",
            correction=correction,
        )
    )
    store.put_notification(
        Notification(
            key=f"{wid}:escalated:1",
            kind="escalated",
            workflow_id=wid,
            ticket_id=t.ticket_id,
            message="escalated",
        ),
        "store",
    )
    return wid


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    tables = ("runs", "steps", "reviews", "corrections", "notifications", "blobs", "payload_blobs")
    with engine.connect() as conn:
        out = {t: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one() for t in tables}
    engine.dispose()
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aiflow.db'}"
    return request.getfixturevalue("fresh_pg_url")


def test_customer_key_is_keyed_normalised_and_never_the_address():
    ring = Keyring({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, active="k2")
    plain = customer_key(" Maria@Example.COM ", None)
    assert plain == customer_key("maria@example.com", None)
    assert plain.startswith("sha256:") and "maria" not in plain
    keyed = customer_key("maria@example.com", ring)
    assert keyed.startswith("k2:") and keyed != plain
    assert customer_keys("MARIA@example.com", ring) == [
        plain,
        customer_key("maria@example.com", Keyring({"k1": b"\x01" * 32})),
        keyed,
    ]


def test_erase_removes_one_customers_rows_and_keeps_the_others(store_url, tmp_path):
    store = Store(store_url)
    store.create_schema()
    blobs = SqlBlobStore(store.engine)
    ref = store.put_blob("a long body of maria's " * 40)
    mine = [seed(store, "maria@example.com", decided=True, body_ref=ref)]
    mine.append(seed(store, "Maria@Example.com", decided=False))
    other = seed(store, "li@example.com", decided=True)
    blobs.put_sync(b"maria payload", mine[0])
    blobs.put_sync(b"li payload", other)
    assert store.get_run(mine[0]).customer_key == customer_key("maria@example.com", None)

    eraser = Eraser(store.engine)
    found = eraser.find("MARIA@example.com ", None)
    assert sorted(found.workflow_ids) == sorted(mine)
    expected = {
        "runs": 2,
        "steps": 4,
        "model_responses": 0,
        "reviews": 2,
        "corrections": 1,
        "notifications": 2,
        "run_features": 0,
        "answer_cache": 0,
        "blobs": 1,
        "payload_blobs": 1,
    }
    assert eraser.count(found) == expected
    assert eraser.delete(found) == expected
    assert counts(store_url) == {
        "runs": 1,
        "steps": 2,
        "reviews": 1,
        "corrections": 1,
        "notifications": 1,
        "blobs": 0,
        "payload_blobs": 1,
    }
    assert store.get_run(other) is not None
    assert eraser.find("maria@example.com", None).runs == []
    store.close()


def test_old_table_gets_the_column_and_legacy_runs_are_found_through_their_review(store_url):
    engine = make_engine(store_url)
    legacy = sa.MetaData()
    cols = [
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in RunRow.__table__.columns
        if c.name != "customer_key"
    ]
    sa.Table("runs", legacy, *cols)
    legacy.create_all(engine)
    assert "customer_key" not in {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    assert add_missing_columns(engine) == ["runs.customer_key"]
    assert add_missing_columns(engine) == []  # idempotent
    inspector = sa.inspect(engine)
    assert "customer_key" in {c["name"] for c in inspector.get_columns("runs")}
    assert "ix_runs_customer_key" in {i["name"] for i in inspector.get_indexes("runs")}
    engine.dispose()

    store = Store(store_url)
    store.create_schema()
    wid = seed(store, "old@example.com", decided=True)
    with store.engine.begin() as conn:  # as written before the column existed
        conn.execute(sa.update(RunRow.__table__).values(customer_key=None))
    assert Eraser(store.engine).find("OLD@example.com", None).workflow_ids == [wid]
    store.close()


def test_feedback_dir_loses_the_customers_lines(tmp_path):
    url = f"sqlite:///{tmp_path / 'aiflow.db'}"
    store = Store(url)
    store.create_schema()
    seed(store, "maria@example.com", decided=True)
    found = Eraser(store.engine).find("maria@example.com", None)
    (decision,) = found.decision_ids
    folder = tmp_path / "feedback"
    folder.mkdir()
    lines = [
        {"id": decision, "input": None},
        {"id": "d-other", "sender": "li@example.com"},
        {"id": "d-x", "sender": "MARIA@example.com"},
        {"messages": [{"role": "user", "content": "Charged twice for my subscription"}]},
    ]
    (folder / "eval.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    from activities.erasure import scrub_feedback_dir

    assert scrub_feedback_dir(folder, "maria@example.com", found) == {"eval.jsonl": 3}
    kept = [json.loads(x) for x in (folder / "eval.jsonl").read_text().splitlines()]
    assert kept == [{"id": "d-other", "sender": "li@example.com"}]
    store.close()


def test_dry_run_prints_what_would_go_and_changes_nothing(tmp_path, capsys):
    settings = make_settings(tmp_path)
    store = Store(settings.store_url)
    store.create_schema()
    seed(store, "maria@example.com", decided=True)
    seed(store, "li@example.com", decided=False)
    before = counts(settings.store_url)
    code = erase.main(["--customer", "maria@example.com", "--dry-run", "--json"], None, settings)
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"]["runs"] == 1 and report["removed"]["steps"] == 2
    assert report["runs_ended"] == {} and report["histories_deleted"] == 1
    assert counts(settings.store_url) == before
    store.close()


async def gone(client, workflow_id: str, timeout: float = 90.0) -> bool:
    """describe raises NOT_FOUND once the history is deleted: asynchronously, about 30 s
    after the request on the dev server."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        await asyncio.sleep(0.2)
    return False


async def wait_stored(store: Store, workflow_id: str) -> None:
    for _ in range(200):
        run = store.get_run(workflow_id)
        if run is not None and run.customer_key:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never stored with its key")


async def test_erase_ends_in_flight_runs_and_deletes_their_histories(env, tmp_path, capsys):
    settings = make_settings(tmp_path)
    maria = ticket(customer_tier="vip", customer_email="maria@example.com")
    li = ticket(customer_tier="vip", customer_email="li@example.com")
    store = Store(settings.store_url)
    store.create_schema()
    async with running_worker(env.client, settings):
        mine = await start(env.client, settings, maria)
        theirs = await start(env.client, settings, li)
        for h in (mine, theirs):
            await wait_stored(store, h.id)
        before = counts(settings.store_url)
        code = await erase.amain(
            ["--customer", "Maria@example.com", "--json", "--wait-seconds", "10"],
            env.client,
            settings,
        )
        assert code == 0
        out = capsys.readouterr().out  # the in-process worker logs to stdout too
        lines = out.splitlines()  # the report: the lines from "{" to "}", among log lines
        first = lines.index("{")
        report = json.loads("\n".join(lines[first : lines.index("}", first) + 1]))
        assert report["runs_ended"] == {mine.id: "cancelled"}
        assert report["histories_deleted"] == 1
        assert await gone(env.client, mine.id)
        assert (await theirs.describe()).status == WorkflowExecutionStatus.RUNNING
        await theirs.terminate(reason="test over")
    removed = report["removed"]
    # 6 steps: intake, rules, classify, draft, qa, decide; 2 answers: classify, draft
    assert {k: v for k, v in removed.items() if v} == {
        "runs": 1,
        "steps": 6,
        "model_responses": 2,
        "reviews": 1,
        "run_features": 1,
    }
    assert before["steps"] - counts(settings.store_url)["steps"] == 6
    after = counts(settings.store_url)
    assert (after["runs"], after["reviews"]) == (1, 1)
    assert store.get_run(theirs.id) is not None and store.get_run(mine.id) is None
    store.close()
