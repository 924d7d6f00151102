"""Shared circuit breakers on SQLite and PostgreSQL: the state machine on a fake clock,
races between threads, and two OS processes sharing one breaker; then the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from activities.breaker import (
    BreakerDecision,
    BreakerPolicy,
    BreakerRow,
    BreakerState,
    CircuitBreakers,
)
from activities.store import make_engine
from starter.breakers import amain
from tests.conftest import ROOT, make_settings

T0 = datetime(2025, 3, 9, 14, 30, 15, 123456, tzinfo=UTC)
POLICY = BreakerPolicy(
    failure_threshold=3, window_seconds=60, open_seconds=30, probe_timeout_seconds=45
)
KEY = "openai/gpt-4o-mini"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/breakers.db"
    # One database per session: empty the table so no test sees another's breakers.
    pg = request.getfixturevalue("pg_url")
    engine = make_engine(pg)
    CircuitBreakers(engine, POLICY).create_schema()
    with engine.begin() as conn:
        conn.execute(delete(BreakerRow))
    engine.dispose()
    return pg


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    e = make_engine(url)
    yield e
    e.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breakers(engine: Engine, clock: FakeClock) -> CircuitBreakers:
    b = CircuitBreakers(engine, POLICY, clock=clock)
    b.create_schema()
    return b


def state(b: CircuitBreakers, key: str = KEY) -> BreakerState:
    (found,) = [s for s in b.snapshot() if s.key == key]
    return found


def fail(b: CircuitBreakers, times: int, key: str = KEY) -> None:
    for _ in range(times):
        b.record_failure(key)


def race(n: int, fn) -> list[Any]:
    """`fn` on n threads released together."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


CLOSED = BreakerDecision(allowed=True, state="closed")
PROBE = BreakerDecision(allowed=True, state="half_open")


# --- the state machine -------------------------------------------------------------------


def test_unknown_key_is_closed_and_leaves_no_row(breakers: CircuitBreakers):
    assert breakers.acquire(KEY) == CLOSED
    breakers.record_success(KEY)
    assert breakers.snapshot() == []
    assert breakers.reset(KEY) is False


def test_opens_after_threshold_failures_within_window(breakers, clock):
    fail(breakers, 2)
    clock.advance(59.999999)
    assert breakers.acquire(KEY) == CLOSED
    assert state(breakers).failures == 2
    breakers.record_failure(KEY)

    assert state(breakers) == BreakerState(
        key=KEY,
        state="open",
        failures=3,
        window_started_at=T0,
        opened_at=at(59.999999),
        probe_started_at=None,
        updated_at=at(59.999999),
        retry_at=at(89.999999),
    )


def test_failures_spread_across_windows_do_not_open(breakers, clock):
    fail(breakers, 2)
    clock.advance(60)  # the window has run out: this failure starts a new one
    breakers.record_failure(KEY)
    assert (state(breakers).state, state(breakers).failures) == ("closed", 1)
    assert state(breakers).window_started_at == at(60)
    clock.advance(59)
    breakers.record_failure(KEY)
    assert breakers.acquire(KEY) == CLOSED
    clock.advance(1)
    fail(breakers, 2)
    assert (state(breakers).state, state(breakers).failures) == ("closed", 2)
    assert state(breakers).window_started_at == at(120)


def test_success_resets_the_count_and_the_next_failure_starts_a_window(breakers, clock):
    fail(breakers, 2)
    clock.advance(10)
    breakers.record_success(KEY)
    assert (state(breakers).state, state(breakers).failures) == ("closed", 0)
    clock.advance(10)
    fail(breakers, 2)
    assert state(breakers).window_started_at == at(20)
    assert (state(breakers).state, state(breakers).failures) == ("closed", 2)


def test_open_refuses_with_retry_at_and_ignores_late_reports(breakers, clock):
    fail(breakers, 3)
    clock.advance(29.999999)
    expected = BreakerDecision(allowed=False, state="open", retry_at=at(30), reason="outage")
    assert breakers.acquire(KEY) == expected
    breakers.record_success(KEY)  # calls that started before it opened
    breakers.record_failure(KEY)
    assert breakers.acquire(KEY) == expected
    assert (state(breakers).opened_at, state(breakers).failures) == (T0, 3)


def test_exactly_one_of_many_concurrent_acquirers_gets_the_probe(breakers, clock):
    fail(breakers, 3)
    clock.advance(30)
    decisions = race(8, lambda: breakers.acquire(KEY))

    refused = BreakerDecision(allowed=False, state="half_open", retry_at=at(75), reason="outage")
    assert sorted(decisions, key=lambda d: d.allowed) == [refused] * 7 + [PROBE]
    assert (state(breakers).state, state(breakers).probe_started_at) == ("half_open", at(30))


def test_probe_success_closes(breakers, clock):
    fail(breakers, 3)
    clock.advance(30)
    assert breakers.acquire(KEY) == PROBE
    clock.advance(2)
    breakers.record_success(KEY)

    assert breakers.acquire(KEY) == CLOSED
    got = state(breakers)
    assert (got.state, got.failures, got.opened_at, got.probe_started_at) == (
        "closed",
        0,
        None,
        None,
    )
    fail(breakers, 2)  # the old count is gone: two more failures do not reopen it
    assert breakers.acquire(KEY) == CLOSED


def test_probe_failure_opens_again(breakers, clock):
    fail(breakers, 3)
    clock.advance(30)
    assert breakers.acquire(KEY) == PROBE
    clock.advance(2)
    breakers.record_failure(KEY)

    assert breakers.acquire(KEY) == BreakerDecision(
        allowed=False, state="open", retry_at=at(62), reason="outage"
    )
    assert (state(breakers).opened_at, state(breakers).probe_started_at) == (at(32), None)
    clock.advance(30)
    assert breakers.acquire(KEY) == PROBE


def test_stale_probe_frees_the_slot_after_probe_timeout(breakers, clock):
    fail(breakers, 3)
    clock.advance(30)
    assert breakers.acquire(KEY) == PROBE
    clock.advance(44.999999)
    refused = BreakerDecision(allowed=False, state="half_open", retry_at=at(75), reason="outage")
    assert breakers.acquire(KEY) == refused
    clock.advance(0.000001)  # the probe never reported back: one new probe may go

    decisions = race(8, lambda: breakers.acquire(KEY))
    assert sum(d.allowed for d in decisions) == 1
    assert state(breakers).probe_started_at == at(75)


def test_concurrent_failures_are_all_counted(engine, clock):
    b = CircuitBreakers(engine, POLICY.model_copy(update={"failure_threshold": 1000}), clock)
    b.create_schema()
    race(8, lambda: fail(b, 25))
    assert (state(b).state, state(b).failures) == ("closed", 200)


def test_reset_closes_by_hand(breakers, clock):
    fail(breakers, 3)
    fail(breakers, 1, key="anthropic/claude-haiku")
    clock.advance(5)
    assert breakers.reset(KEY) is True
    assert breakers.acquire(KEY) == CLOSED
    assert [(s.key, s.state, s.failures) for s in breakers.snapshot()] == [
        ("anthropic/claude-haiku", "closed", 1),
        (KEY, "closed", 0),
    ]


# --- two OS processes share one breaker -----------------------------------------------

PEER = r"""
import json, os, sys
from datetime import datetime
from activities.breaker import BreakerPolicy, CircuitBreakers
from activities.store import make_engine

now = [None]
breakers = CircuitBreakers(
    make_engine(sys.argv[1]), BreakerPolicy.model_validate_json(sys.argv[2]), lambda: now[0]
)
print(json.dumps(os.getpid()), flush=True)
for line in sys.stdin:
    op, key, when = json.loads(line)
    now[0] = datetime.fromisoformat(when)
    out = getattr(breakers, op)(key)
    print(json.dumps(out.model_dump(mode="json") if out is not None else None), flush=True)
"""


class Peer:
    """A separate Python process driving its own CircuitBreakers on the same database."""

    def __init__(self, url: str, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PEER, url, POLICY.model_dump_json()],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.pid = self._read()

    def send(self, op: str, when: datetime) -> None:
        self.proc.stdin.write(json.dumps([op, KEY, when.isoformat()]) + "\n")
        self.proc.stdin.flush()

    def _read(self) -> Any:
        line = self.proc.stdout.readline()
        assert line, f"peer died: {Path(self.log.name).read_text()}"
        return json.loads(line)

    def __call__(self, op: str, when: datetime) -> Any:
        self.send(op, when)
        out = self._read()
        return BreakerDecision.model_validate(out) if op == "acquire" else out

    def close(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0, Path(self.log.name).read_text()
        self.log.close()


def test_two_processes_share_one_breaker(url: str, breakers: CircuitBreakers, tmp_path: Path):
    a, b = Peer(url, tmp_path / "a.log"), Peer(url, tmp_path / "b.log")
    try:
        assert len({a.pid, b.pid, os.getpid()}) == 3
        a("record_failure", at(0))
        a("record_failure", at(1))
        assert b("acquire", at(1)) == CLOSED
        a("record_failure", at(2))  # the third failure in the window: open

        assert b("acquire", at(3)) == BreakerDecision(
            allowed=False, state="open", retry_at=at(32), reason="outage"
        )
        assert b("acquire", at(32)) == PROBE
        refused = BreakerDecision(
            allowed=False, state="half_open", retry_at=at(77), reason="outage"
        )
        assert a("acquire", at(33)) == refused  # B's probe is in flight
        b("record_success", at(34))
        assert a("acquire", at(35)) == CLOSED
        assert (state(breakers).state, state(breakers).failures) == ("closed", 0)

        # Both processes ask at once when the next probe is due: only one gets it.
        for when in (at(40), at(41), at(42)):
            b("record_failure", when)
        a.send("acquire", at(72))
        b.send("acquire", at(72))
        decisions = [BreakerDecision.model_validate(p._read()) for p in (a, b)]
        assert sorted(d.allowed for d in decisions) == [False, True]
    finally:
        a.close()
        b.close()


# --- the CLI ----------------------------------------------------------------------------


async def test_cli_prints_the_table_and_resets(url: str, tmp_path: Path, capsys):
    settings = make_settings(tmp_path, database_url=url)
    clock = FakeClock()
    engine = make_engine(url)
    b = CircuitBreakers(engine, BreakerPolicy(), clock)  # the CLI's policy: the defaults
    b.create_schema()
    assert await amain([], settings=settings) == 0
    assert capsys.readouterr().out == "no breakers yet\n"

    fail(b, 5, key="anthropic/haiku")
    fail(b, 2)
    fail(b, 5, key="vllm/llama")
    clock.advance(30)
    assert b.acquire("vllm/llama").allowed
    engine.dispose()

    assert await amain([], settings=settings) == 0
    assert capsys.readouterr().out == (
        "KEY                 STATE      FAILURES  OPENED AT             RETRY AT\n"
        "anthropic/haiku     open       5         2025-03-09T14:30:15Z  2025-03-09T14:30:45Z\n"
        "openai/gpt-4o-mini  closed     2         -                     -\n"
        "vllm/llama          half_open  5         2025-03-09T14:30:15Z  2025-03-09T14:31:45Z\n"
    )

    assert await amain(["reset", "anthropic/haiku"], settings=settings) == 0
    assert capsys.readouterr().out == "anthropic/haiku: closed\n"
    assert await amain([], settings=settings) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "anthropic/haiku",
        "closed",
        "0",
        "-",
        "-",
    ]
    assert await amain(["reset", "nope/none"], settings=settings) == 1
    assert capsys.readouterr().err == "aiflow breakers: no breaker 'nope/none'\n"
