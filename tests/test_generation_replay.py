"""Recorded histories of the content generation workflow replay against today's code: a
fresh run that regenerates once and goes through a field review, and the committed history
of the same path (tests/histories/generation-reviewed.json). Re-record only for a
deliberate, versioned change:
    AIFLOW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_generation_replay.py
"""

from __future__ import annotations

from temporalio.client import WorkflowHistory

from contracts.items import FieldAction, FieldDecision
from tests.conftest import running_worker
from tests.test_generation_workflow import brief, pending_review, start
from tests.test_replay import HISTORIES, RECORD, replay_failure
from workflows.generation import GenerationWorkflow

HISTORY = HISTORIES / "generation-reviewed.json"


async def test_fresh_generation_history_replays(env, settings):
    # slip 0: QA fails once; the guarantee sends it to review, where a reviewer corrects it
    raw = brief(slip=0, must_include=["lifetime warranty", "steel head"])
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        await pending_review(handle)
        await handle.execute_update(
            GenerationWorkflow.review_fields,
            FieldDecision(action=FieldAction.CORRECT, reviewer="ana", corrections={"title": "H1"}),
        )
        result = await handle.result()
    assert result.outcome == "edited"
    assert [s.outcome for s in result.steps if s.step == "qa"] == ["fail", "pass"]
    history = await handle.fetch_history()
    assert await replay_failure(history) is None
    if RECORD or not HISTORY.exists():
        HISTORY.write_text(history.to_json())


async def test_committed_generation_history_replays():
    history = WorkflowHistory.from_json("content-replay", HISTORY.read_text())
    assert await replay_failure(history) is None
