"""Recorded histories of real runs replay against today's workflow code.

A fresh run of each path is recorded and replayed, and so are the histories committed in
tests/histories/ (recorded from earlier code): a change that would break the runs in
flight fails here. Re-record them only for a deliberate, versioned change:
    AIFLOW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_replay.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from contracts import Outcome, ReviewAction, ReviewDecision
from tests.conftest import running_worker
from tests.test_triage_workflow import start, ticket, wait_for_review
from worker import WORKFLOWS, workflow_runner
from workflows.triage import TriageWorkflow


@workflow.defn(name="TicketTriage", sandboxed=False)
class ChangedTriage:
    """Stands in for an incompatible change: it starts a timer, not the config activity."""

    @workflow.run
    async def run(self, _inp: dict) -> None:
        await workflow.sleep(1)


HISTORIES = Path(__file__).parent / "histories"
REPLAY_SECONDS = 15
RECORD = os.environ.get("AIFLOW_RECORD_HISTORIES") == "1"

CASES = {
    "resolved": ticket(ticket_id="T-REPLAY-1"),
    "rejected": ticket(ticket_id="T-REPLAY-2", customer_email="nope"),
    "closed": ticket(ticket_id="T-REPLAY-3", body="Thanks, it works now!"),
    "reviewed": ticket(ticket_id="T-REPLAY-4", customer_tier="vip"),
    "qa-regenerated": ticket(
        ticket_id="T-REPLAY-5",
        body="Why was my card 4111 1111 1111 1111 charged twice on invoice INV-77?",
    ),
}


async def replay_failure(history: WorkflowHistory) -> str | None:
    """The replay failure, if any. A history whose replay schedules a local activity it
    does not contain makes the SDK's replayer wait forever: that counts as a failure too."""
    try:
        result = await asyncio.wait_for(
            replayer().replay_workflow(history, raise_on_replay_failure=False), REPLAY_SECONDS
        )
    except TimeoutError:
        return f"replay did not finish in {REPLAY_SECONDS} s: the history diverges"
    return None if result.replay_failure is None else repr(result.replay_failure)


def replayer() -> Replayer:
    return Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )


@pytest.mark.parametrize("case", sorted(CASES))
async def test_fresh_history_replays(env, settings, case):
    raw = dict(CASES[case], ticket_id=f"{CASES[case]['ticket_id']}-{settings.model_queue}")
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        if case == "reviewed":
            await wait_for_review(handle)
            # an update (reassign, a new review version) then a signal (approve): both
            # handlers and the re-armed SLA wait are in the recorded history
            await handle.execute_update(
                TriageWorkflow.submit_review,
                ReviewDecision(action=ReviewAction.REASSIGN, reviewer="ana", assignee="ben"),
            )
            await handle.signal(
                TriageWorkflow.review_decision,
                ReviewDecision(action=ReviewAction.APPROVE, reviewer="ben", version=2),
            )
        result = await handle.result()
    expected = {
        "resolved": Outcome.RESOLVED,
        "rejected": Outcome.REJECTED,
        "closed": Outcome.CLOSED,
        "reviewed": Outcome.APPROVED,
        "qa-regenerated": Outcome.RESOLVED,
    }[case]
    assert result.outcome == expected
    if case == "qa-regenerated":
        assert [s.outcome for s in result.steps if s.step == "qa"] == ["fail", "pass"]
    history = await handle.fetch_history()
    assert await replay_failure(history) is None
    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{case}.json").write_text(history.to_json())


@pytest.mark.parametrize("case", sorted(CASES))
async def test_committed_history_replays(case):
    path = HISTORIES / f"{case}.json"
    history = WorkflowHistory.from_json(f"ticket-{case}", path.read_text())
    assert await replay_failure(history) is None


async def test_replay_detects_a_changed_workflow():
    """The check can fail: history of the reviewed path against a workflow whose first
    command differs is reported as non-deterministic."""
    history = WorkflowHistory.from_json("x", (HISTORIES / "reviewed.json").read_text())
    replay = await Replayer(
        workflows=[ChangedTriage], data_converter=pydantic_data_converter
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is not None


async def test_replay_of_a_diverging_history_is_reported_not_hung():
    """A history recorded before the breaker check existed (kept as a fixture) diverges
    from today's code at a local activity; that is reported as a failure."""
    old = WorkflowHistory.from_json("x", (HISTORIES / "pre-breaker-resolved.json").read_text())
    assert await replay_failure(old) == (
        f"replay did not finish in {REPLAY_SECONDS} s: the history diverges"
    )
