"""Drift detection: exact statistics, the windowed store reads on SQLite and PostgreSQL
with a synthetic stream (shifted and not), and DriftCheck end to end on the dev server:
report, alert log event, metric, webhook POST, `aiflow drift run` and the Schedule."""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from structlog.testing import capture_logs
from temporalio import workflow
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    WorkflowExecutionStatus,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.drift import DriftActivities, features
from activities.drift_store import DriftStore, RunFeatureRow
from activities.review_store import CorrectionRow, ReviewRow
from activities.store import RunRow, Store
from activities.webhook import Webhook
from contracts import CATEGORIES, DriftInput, NormalizedTicket, RunFeaturesInput
from decisions import drift_stats as s
from starter import drift as drift_cli
from tests.conftest import make_settings
from tests.test_review_notify import Receiver
from worker import workflow_runner
from workflows.drift import DriftWorkflow, compare, record_run_features, windows_for

# --- statistics, by hand -----------------------------------------------------------------


def test_psi_exact_values():
    # shares en 0.5→0.25, de 0.5→0.75: 0.25·ln 2 + 0.25·ln 1.5 = 0.25·ln 3
    assert s.psi([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(3), rel=1e-12)
    assert s.psi([30, 70], [30, 70]) == 0.0
    # "de" absent from the baseline: its share is taken as PSI_EPSILON = 1e-4
    expected = (0.5 - 1.0) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert s.psi([100, 0], [50, 50]) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError):
        s.psi([0, 0], [1, 1])


def test_bins_ks_and_status_exact_values():
    assert s.bin_counts([0, 0.0999, 0.1, 0.5, 0.95, 1.0], s.CONFIDENCE_BOUNDS) == [
        2, 1, 0, 0, 0, 1, 0, 0, 0, 2
    ]  # fmt: skip
    assert s.bin_labels((50, 100)) == ["<50", "50-100", ">=100"]
    assert s.ks_statistic([2, 2, 0], [0, 2, 2]) == 0.5  # CDFs (.5, 1, 1) vs (0, .5, 1)
    assert s.ks_statistic([10, 0, 0], [0, 0, 10]) == 1.0
    # Kolmogorov Q(1) = 0.2699996717 (tables; scipy.stats.kstwobign.sf(1.0))
    assert s.kolmogorov_q(1.0) == pytest.approx(0.26999967167735456, abs=1e-12)
    assert s.kolmogorov_q(0.1) == 1.0
    lam = (math.sqrt(5) + 0.12 + 0.11 / math.sqrt(5)) * 1.0  # n = m = 10: nₑ = 5
    q = 2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 5))
    assert s.ks_pvalue(1.0, 10, 10) == pytest.approx(q, rel=1e-12)
    assert (s.status(0.25), s.status(0.2), s.status(0.1), s.status(0.0999)) == (
        "drift", "watch", "watch", "stable"
    )  # fmt: skip
    assert s.status(0.05, ks_d=0.15, ks_p=0.009) == "drift"
    assert s.status(0.05, ks_d=0.09, ks_p=1e-9) == "stable"  # significant, not material
    assert s.biggest_change(["en", "de"], [80, 20], [40, 60]) == "en 80% → 40%"


# --- a synthetic stream ------------------------------------------------------------------

LANGS = ("en", "de", "fr", "es")
DAY = timedelta(days=1)


def run_rows(rng: random.Random, tag: str, at: datetime, shifted: bool) -> list:
    """One run with its features, and its review and correction when it went to review.
    Shifted: German instead of English, longer bodies, lower confidence, more overrides."""
    wid = f"drift-{tag}"
    conf = rng.betavariate(3, 3) if shifted else rng.betavariate(6, 2)
    action = None
    if conf < 0.6:
        action = rng.choices(("approve", "edit", "reject"), (40, 40, 20) if shifted else (90, 7, 3))
        action = action[0]
    rows = [
        RunFeatureRow(
            workflow_id=wid,
            ticket_id=tag,
            created_at=at,
            body_chars=int(rng.lognormvariate(math.log(900 if shifted else 300), 0.5)),
            language=rng.choices(LANGS, (30, 50, 10, 10) if shifted else (70, 10, 10, 10))[0],
            channel=rng.choices(("email", "web", "chat", "phone"), (50, 25, 20, 5))[0],
            customer_tier=rng.choices(("free", "pro", "vip", "enterprise"), (60, 25, 5, 10))[0],
            metadata_keys=rng.choices((0, 1, 2, 3), (40, 40, 15, 5))[0],
        ),
        RunRow(
            workflow_id=wid,
            run_id="r",
            ticket_id=tag,
            stage="done",
            outcome={"approve": "approved", "edit": "edited", "reject": "rejected"}.get(
                action, "resolved"
            ),
            category=rng.choices(CATEGORIES, (30, 25, 15, 10, 10, 5, 5))[0],
            confidence=round(conf, 4),
            created_at=at,
        ),
    ]
    if action:
        common = {"review_id": f"rv-{tag}", "workflow_id": wid, "ticket_id": tag}
        rows += [
            ReviewRow(
                **common,
                status="decided",
                version=1,
                queue="general",
                requested_at=at,
                sla_deadline=at + DAY,
                request={},
            ),
            CorrectionRow(
                **common,
                decision_id=f"d-{tag}",
                action=action,
                reviewer="ana@example.com",
                requested_at=at,
                decided_at=at + timedelta(minutes=1),
                time_to_review_s=60.0,
                proposal={},
            ),
        ]
    return rows


def write_stream(store: Store, end: datetime, shifted: bool, seed: int) -> None:
    """7 days of baseline (200 runs a day), 1 recent day (200 runs, shifted or not), and
    two runs just outside the windows: at the baseline's start - 1 s and at `end`."""
    rng, tag, rows = random.Random(seed), uuid.uuid4().hex[:8], []
    start = end - 8 * DAY
    for i in range(1600):
        at = start + (i + 0.5) * (8 * DAY) / 1600
        rows += run_rows(rng, f"{tag}-{i}", at, shifted and at >= end - DAY)
    rows += run_rows(rng, f"{tag}-early", start - timedelta(seconds=1), False)
    rows += run_rows(rng, f"{tag}-late", end, False)
    tables: dict[type, list[dict]] = {}
    for row in rows:
        tables.setdefault(type(row), []).append(row.model_dump())
    with store.engine.begin() as conn:  # one multi-row INSERT per table
        for table, values in tables.items():
            conn.execute(insert(table), values)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'aiflow.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    st = Store(url)
    st.create_schema()
    DriftStore(st.engine).create_schema()
    yield st
    st.close()


FEATURES = [
    "language", "channel", "customer_tier", "metadata_keys", "body_chars",
    "category", "outcome", "confidence", "review_rate", "override_rate",
]  # fmt: skip
SHIFTED = {"language", "body_chars", "outcome", "confidence", "review_rate", "override_rate"}


def check(store: Store, end: datetime, min_samples: int = 20):
    windows = windows_for(DriftInput(min_samples=min_samples), end)
    return [compare(c, min_samples) for c in features(DriftStore(store.engine), windows)]


def test_unshifted_stream_drifts_nowhere(store):
    end = datetime(2001, 1, 8, tzinfo=UTC)
    write_stream(store, end, shifted=False, seed=1)
    report = check(store, end)
    assert [f.name for f in report] == FEATURES
    assert {f.name: f.status for f in report} == dict.fromkeys(FEATURES, "stable")
    # the windows are half-open: the runs at start - 1 s and at `end` count nowhere
    assert [(f.baseline_n, f.recent_n) for f in report][:2] == [(1400, 200), (1400, 200)]


def test_shifted_stream_drifts_in_the_shifted_features_only(store):
    end = datetime(2002, 1, 8, tzinfo=UTC)
    write_stream(store, end, shifted=True, seed=2)
    report = {f.name: f for f in check(store, end)}
    assert {n: f.status for n, f in report.items()} == {
        n: "drift" if n in SHIFTED else "stable" for n in FEATURES
    }
    # the same seeded stream gives the same numbers on either database
    assert (report["language"].psi, report["language"].change) == (0.8703, "en 72% → 32%")
    assert max(report["body_chars"].ks_p, report["confidence"].ks_p) < 1e-40
    assert (report["override_rate"].baseline_n, report["override_rate"].recent_n) == (263, 147)
    # too few recent reviews for a verdict on the override rate
    assert check(store, end, min_samples=500)[-1].status == "insufficient"


def test_run_features_are_recorded_once(store):
    ds, wid = DriftStore(store.engine), f"wf-{uuid.uuid4().hex[:8]}"
    inp = RunFeaturesInput(
        workflow_id=wid, ticket_id="T-1", body_chars=12, channel="chat", customer_tier="pro"
    )
    first = datetime(2004, 1, 1, tzinfo=UTC)
    ds.put_features(inp, first)
    ds.put_features(inp.model_copy(update={"body_chars": 99}), first + DAY)  # a retry
    assert ds.features(first, first + 2 * DAY) == [(None, "chat", "pro", 0, 12)]
    assert ds.features(first + DAY, first + 2 * DAY) == []  # kept at the first time


# --- end to end on the dev server -----------------------------------------------------------


@workflow.defn(name="FeaturesProbe", sandboxed=False)  # this module is no sandbox import
class FeaturesProbe:
    @workflow.run
    async def run(self, ticket: NormalizedTicket) -> None:
        await record_run_features(ticket)


async def eventually(probe, timeout: float = 20.0):
    for _ in range(int(timeout * 10)):
        if value := await probe():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_drift_check_end_to_end(env, tmp_path, capsys):
    settings = make_settings(tmp_path, drift_min_samples=20)
    end = datetime(2003, 1, 8, tzinfo=UTC)
    store = Store(settings.store_url)
    store.create_schema()
    receiver = Receiver([500])  # the first POST fails: the retry delivers it
    acts = DriftActivities(store, Webhook(receiver.url))
    write_stream(store, end, shifted=True, seed=2)
    buffer = MetricBuffer(10_000)
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=Runtime(telemetry=TelemetryConfig(metrics=buffer)),
    )
    queue = settings.orchestration_queue
    executor = ThreadPoolExecutor(4)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[DriftWorkflow, FeaturesProbe],
        activities=[acts.snapshot, acts.alert, acts.record_features],
        activity_executor=executor,
        workflow_runner=workflow_runner(),
    )
    schedule = client.get_schedule_handle(drift_cli.SCHEDULE_ID)
    try:
        async with worker:
            with capture_logs() as logs:
                report = await client.execute_workflow(
                    DriftWorkflow.run,
                    DriftInput(min_samples=20, end=end),
                    id=f"drift-{uuid.uuid4().hex[:8]}",
                    task_queue=queue,
                )
            assert report.drifted == [f for f in FEATURES if f in SHIFTED]
            assert report.alerted is True
            events = [(e["event"], e["log_level"], e["feature"]) for e in logs]
            assert events == [("drift.detected", "warning", f) for f in report.drifted]
            assert {e["workflow_id"] for e in logs} == {report.workflow_id}
            key = f"{report.workflow_id}:drift"
            assert [k for k, _ in receiver.requests] == [key, key]
            body = receiver.requests[-1][1]
            assert (body["kind"], body["workflow_id"]) == ("drift", report.workflow_id)
            assert body["text"].splitlines()[0] == (
                f"aiflow drift: 6 feature(s) drifted ({report.workflow_id})"
            )
            updates = buffer.retrieve_updates()
            alerts = [u for u in updates if u.metric.name == "aiflow_drift_alerts"]
            assert [(u.value, u.attributes["feature"]) for u in alerts] == [
                (1, f) for f in report.drifted
            ]
            gauges = {
                u.attributes["feature"]: u.value
                for u in updates
                if u.metric.name == "aiflow_drift_psi"
            }
            assert gauges == {f.name: f.psi for f in report.features}

            # aiflow drift run: the same check, printed (its own id; alerts again)
            with capture_logs() as again:
                ran = await drift_cli.amain(["run", "--end", end.isoformat()], client, settings)
            assert (ran, len(again)) == (0, 6)
            first, *rest = capsys.readouterr().out.splitlines()
            assert first.startswith("aiflow-drift-run-")
            assert rest == drift_cli.render(report).splitlines()[1:]

            # the features of a run, through the local activity
            ticket = NormalizedTicket(
                ticket_id="T-9", subject="s", body="x" * 42, customer_email="a@b.co",
                channel="web", customer_tier="vip", language="de", metadata={"k": "v"},
            )  # fmt: skip
            await client.execute_workflow(
                FeaturesProbe.run, ticket, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            [row] = DriftStore(store.engine).features(datetime.now(UTC) - DAY, datetime.now(UTC))
            assert (row.body_chars, row.language, row.channel, row.metadata_keys) == (
                42, "de", "web", 1
            )  # fmt: skip

            # aiflow drift schedule: created, then updated in place
            for every, done in (("2h", "created"), ("1h", "updated")):
                assert await drift_cli.amain(["schedule", "--every", every], client, settings) == 0
                assert capsys.readouterr().out.startswith(f"schedule aiflow-drift {done}:")
            desc = await schedule.describe()
            assert desc.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=1))]
            action = desc.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert (action.workflow, action.id, action.task_queue) == (
                "DriftCheck", "aiflow-drift", queue
            )  # fmt: skip
            [arg] = await client.data_converter.decode(action.args, [DriftInput])
            assert arg == DriftInput(
                recent_seconds=86400, baseline_seconds=7 * 86400, min_samples=20
            )
            # triggered now, it runs the check; `show` prints that check's report
            await schedule.trigger()

            async def latest_done():
                recent = (await schedule.describe()).info.recent_actions
                if not recent:
                    return None
                h = client.get_workflow_handle_for(DriftWorkflow.run, recent[-1].action.workflow_id)
                return (
                    h if (await h.describe()).status == WorkflowExecutionStatus.COMPLETED else None
                )

            scheduled = await (await eventually(latest_done)).result()
            assert scheduled.drifted == []
            assert {f.status for f in scheduled.features} == {"insufficient"}  # no data now
            assert await drift_cli.amain(["show"], client, settings) == 0
            first, rest = capsys.readouterr().out.split("\n", 1)
            assert first.startswith(f"schedule aiflow-drift: every 1:00:00 on {queue}; next ")
            assert rest == drift_cli.render(scheduled) + "\n"
    finally:
        with suppress(RPCError):
            await schedule.delete()
        executor.shutdown()
        receiver.close()
        store.close()
