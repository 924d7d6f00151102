"""Recorded histories of extraction runs replay against today's workflow code (see
tests/test_replay.py). Re-record only for a deliberate, versioned change:
    AIFLOW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_extraction_replay.py
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory

from contracts.extraction import ExtractionOutcome
from contracts.items import FieldAction, FieldDecision
from tests.conftest import running_worker
from tests.test_extraction_workflow import EXCL, UNLABELLED, start, wait_for_review
from tests.test_replay import HISTORIES, RECORD, replay_failure
from workflows.extraction import ExtractionWorkflow

CASES = {
    "reasked": (EXCL, ExtractionOutcome.EXTRACTED),
    "corrected": (UNLABELLED, ExtractionOutcome.CORRECTED),
    "rejected": ("", ExtractionOutcome.REJECTED),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_fresh_extraction_history_replays(env, settings, tmp_path, case):
    text, expected = CASES[case]
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, tmp_path, f"{case}.txt", text.encode())
        if case == "corrected":
            await wait_for_review(handle)
            await handle.execute_update(
                ExtractionWorkflow.review_fields,
                FieldDecision(
                    action=FieldAction.CORRECT, reviewer="ana", corrections={"vendor": "ACME"}
                ),
            )
        result = await handle.result()
    assert result.outcome == expected
    history = await handle.fetch_history()
    assert await replay_failure(history) is None
    if RECORD:
        (HISTORIES / f"extraction-{case}.json").write_text(history.to_json())


@pytest.mark.parametrize("case", sorted(CASES))
async def test_committed_extraction_history_replays(case):
    path = HISTORIES / f"extraction-{case}.json"
    history = WorkflowHistory.from_json(f"doc-{case}", path.read_text())
    assert await replay_failure(history) is None
