"""The review queue at volume, on a real dev server and the store: listing filtered and in
SLA order, a one-click spam decision, and bulk decisions (ids, a file, a visibility query,
the queue's filters), each its own validated update with its own receipt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from activities.review_store import QueueFilter
from activities.store import Store
from contracts import Outcome
from starter import review as review_cli
from starter import reviews
from starter.runs import workflow_id_for
from tests.conftest import make_settings, running_worker
from tests.test_review_workflow import VIP
from tests.test_triage_workflow import start, ticket, wait_for_review

LEGAL = {"body": "Our attorney will contact you about this charge. I was billed twice."}


async def cli(capsys, client, settings, *argv: str) -> tuple[int, str, str]:
    code = await review_cli.amain(list(argv), client=client, settings=settings)
    out = capsys.readouterr()
    return code, out.out, out.err


async def open_reviews(client, settings, *overrides: dict) -> list[tuple]:
    raws = [ticket(**VIP, **o) for o in overrides]
    handles = [await start(client, settings, raw) for raw in raws]
    await asyncio.gather(*(wait_for_review(h) for h in handles))
    return [(h, raw["ticket_id"]) for h, raw in zip(handles, raws, strict=True)]


async def test_spam_closes_many_at_once_and_a_resent_bulk_answers_with_receipts(
    env, settings, capsys
):
    async with running_worker(env.client, settings):
        (h1, t1), (h2, t2), (h3, t3) = await open_reviews(env.client, settings, {}, {}, LEGAL)
        listed = await cli(capsys, env.client, settings, "list")
        legal = await cli(capsys, env.client, settings, "list", "--route", "legal")
        dry = await cli(
            capsys, env.client, settings, "spam", t1, t2, "--reviewer", "ana", "--dry-run"
        )
        sent = await cli(
            capsys,
            env.client,
            settings,
            *("spam", t1, t2, "--reviewer", "ana", "--decision-id", "bulk-1"),
        )
        await asyncio.gather(h1.result(), h2.result())
        again = await cli(
            capsys,
            env.client,
            settings,
            *("spam", t1, t2, "--reviewer", "ana", "--decision-id", "bulk-1"),
        )
        by_route = await cli(
            capsys,
            env.client,
            settings,
            "reject",
            "--route",
            "legal",
            "--reviewer",
            "bo",
            "--reason",
            "duplicate",
        )
        r1, r2, r3 = [await h.result() for h in (h1, h2, h3)]
    code, out, _ = listed
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("T-")}
    assert code == 0 and {t1, t2, t3} <= set(rows)
    assert [rows[t][3] for t in (t1, t2, t3)] == ["priority", "priority", "legal"]
    assert [line.split()[0] for line in legal[1].splitlines() if line.startswith("T-")] == [t3]
    w1, w2 = workflow_id_for(t1), workflow_id_for(t2)
    assert dry == (
        0,
        f"{w1}\n{w2}\naiflow review spam: would decide 2 review(s); nothing sent\n",
        "",
    )
    assert sent[0] == 0
    assert sorted(line.split(", review")[0] for line in sent[1].splitlines()[:2]) == sorted(
        [f"spam applied: {w1}", f"spam applied: {w2}"]
    )
    assert sent[1].splitlines()[2] == (
        "aiflow review spam: 2 applied, 0 already applied, 0 refused, 0 not reached (of 2)"
    )
    assert sorted(line.split(", decision ")[1] for line in sent[1].splitlines()[:2]) == sorted(
        [f"bulk-1:{w1}", f"bulk-1:{w2}"]
    )
    # the same bulk command again once the runs finished: each answers with its receipt
    assert again[1].splitlines()[2] == (
        "aiflow review spam: 0 applied, 2 already applied, 0 refused, 0 not reached (of 2)"
    )
    assert by_route[0] == 0
    assert by_route[1].splitlines()[-1] == (
        "aiflow review reject: 1 applied, 0 already applied, 0 refused, 0 not reached (of 1)"
    )
    assert [(r.outcome, r.route) for r in (r1, r2)] == [(Outcome.CLOSED, "spam")] * 2
    assert "reviewer:spam" in r1.reasons and r1.reply is None
    assert (r3.outcome, r3.route) == (Outcome.REJECTED, "legal")


async def test_a_bulk_decision_needs_targets_and_reports_refusals(env, settings, capsys, tmp_path):
    ids = tmp_path / "ids.txt"
    async with running_worker(env.client, settings):
        [(h1, t1)] = await open_reviews(env.client, settings, {})
        ids.write_text(f"# to close\n{t1}\nT-nope-404\n", encoding="utf-8")
        capsys.readouterr()  # the worker's log lines
        nothing = await cli(capsys, env.client, settings, "spam", "--reviewer", "ana")
        mixed = await cli(
            capsys, env.client, settings, "spam", "--ids", str(ids), "--reviewer", "a"
        )
        missing = await cli(
            capsys,
            env.client,
            settings,
            "spam",
            "--ids",
            str(tmp_path / "no.txt"),
            "--reviewer",
            "a",
        )
        versioned = await cli(
            capsys, env.client, settings, "spam", t1, "T-2", "--reviewer", "a", "--version", "1"
        )
        await h1.result()
    assert nothing == (
        2,
        "",
        "aiflow review spam: name a ticket id, --ids FILE, --query or a filter "
        "(--route, --with-reason, --assigned-to, --older-than)\n",
    )
    code, out, err = mixed
    assert code == 1
    assert out.splitlines()[-1] == (
        "aiflow review spam: 1 applied, 0 already applied, 0 refused, 1 not reached (of 2)"
    )
    assert err.startswith(f"{workflow_id_for('T-nope-404')}: ")
    assert missing == (
        2,
        "",
        f"aiflow review: cannot read {tmp_path / 'no.txt'}: No such file or directory\n",
    )
    assert versioned == (
        2,
        "",
        "aiflow review: --version names one review; it cannot go with many\n",
    )


def _row(store_url: str, f: QueueFilter) -> list[str]:
    store = Store(store_url)
    try:
        return [r.ticket_id for r in store.pending_queue(f, datetime.now(UTC))]
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def either_store(request, tmp_path):
    if request.param == "postgresql":
        return make_settings(tmp_path, database_url=request.getfixturevalue("fresh_pg_url"))
    return make_settings(tmp_path)


async def test_the_store_queue_filters_and_sorts_by_sla(env, either_store):
    settings = either_store
    async with running_worker(env.client, settings):
        opened = await open_reviews(env.client, settings, {}, LEGAL)
        (h1, t1), (h2, t2) = opened
        url = settings.store_url
        every = _row(url, QueueFilter())
        legal = _row(url, QueueFilter(route="legal"))
        vip = _row(url, QueueFilter(reason="rule:vip-enterprise"))
        none_old = _row(url, QueueFilter(older_than=timedelta(hours=1)))
        unassigned = _row(url, QueueFilter(assignee="-", limit=1))
        slas = {t: (await reviews.get(env.client, t)).sla_deadline for t in (t1, t2)}
        for h in (h1, h2):
            await h.terminate()
    first, second = sorted((t1, t2), key=lambda t: slas[t])  # the run opened first
    assert every == [first, second]
    assert legal == [t2]
    assert vip == [first, second]
    assert none_old == []
    assert unassigned == [first]
