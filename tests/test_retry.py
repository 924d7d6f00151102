"""`aiflow retry` on a real Temporal dev server with the real TriageWorkflow: a failed run
is started again under its workflow id from its own history; a running or finished one
is left alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy

from contracts import Outcome, Ticket, TriageInput
from contracts.limits import TICKET_ID_RULE
from starter import retry
from starter.runs import EarlierRun, started_input, ticket_handle, workflow_id_for
from tests.conftest import running_worker
from tests.test_submit import statuses
from tests.test_triage_workflow import start, ticket
from workflows.triage import TriageWorkflow

pytestmark = pytest.mark.usefixtures("quiet_logs")


async def retry_cli(env, settings, capsys, *ids: str) -> tuple[int, list[str], str]:
    """Exit code, report lines and stderr (worker log lines, without tabs, left out)."""
    capsys.readouterr()
    code = await retry.amain(list(ids), client=env.client, settings=settings)
    captured = capsys.readouterr()
    out = [line for line in captured.out.splitlines() if "\t" in line]
    return code, out, captured.err


async def test_a_terminated_run_is_rerun_from_its_history_and_completes(env, settings, capsys):
    raw = ticket()
    tid, wf_id = raw["ticket_id"], workflow_id_for(raw["ticket_id"])
    first = await start(env.client, settings, raw)  # no worker yet: it waits, then is killed
    first_run = (await first.describe()).run_id
    await first.terminate()

    async with running_worker(env.client, settings):
        code, out, err = await retry_cli(env, settings, capsys, tid)
        assert (code, err) == (0, "")
        assert out == [f"{tid}\trerun\t{wf_id} (earlier run terminated)"]
        handle = ticket_handle(env.client, tid)
        result = await handle.result()
    rerun_run = (await handle.describe()).run_id
    assert rerun_run != first_run
    assert result.outcome == Outcome.RESOLVED
    rerun_input = await started_input(env.client, wf_id, rerun_run)
    assert rerun_input == await started_input(env.client, wf_id, first_run)
    assert rerun_input.ticket.ticket_id == tid
    assert await statuses(env.client, wf_id) == [
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.TERMINATED,
    ]


@pytest.mark.parametrize("ending", ["timed out", "canceled"])
async def test_runs_that_timed_out_or_were_canceled_are_rerun(env, settings, capsys, ending):
    raw = ticket()
    tid, wf_id = raw["ticket_id"], workflow_id_for(raw["ticket_id"])
    if ending == "timed out":  # no worker on its queue: the run times out after a second
        first = await env.client.start_workflow(
            TriageWorkflow.run,
            TriageInput(ticket=Ticket.model_validate(raw)),
            id=wf_id,
            task_queue=settings.orchestration_queue,
            run_timeout=timedelta(seconds=1),
        )
        while (await first.describe()).status == WorkflowExecutionStatus.RUNNING:
            await asyncio.sleep(0.2)
    else:
        first = await start(env.client, settings, raw)
        await first.cancel()  # taken up by the worker below
    async with running_worker(env.client, settings):
        with pytest.raises(WorkflowFailureError):
            await first.result()
        assert (await first.describe()).status.name.lower().replace("_", " ") == ending
        code, out, err = await retry_cli(env, settings, capsys, tid)
        assert (code, err) == (0, "")
        assert out == [f"{tid}\trerun\t{wf_id} (earlier run {ending})"]
        result = await ticket_handle(env.client, tid).result()
    assert result.outcome == Outcome.RESOLVED


def test_a_completed_run_counts_as_failed_by_its_outcome() -> None:
    # No current code path ends a run this way (model errors go to review); older
    # releases completed runs with outcome "failed", and those are rerun too.
    old = EarlierRun("r1", WorkflowExecutionStatus.COMPLETED, Outcome.FAILED)
    assert (old.failed, old.running, old.how) == (True, False, "completed with outcome failed")
    assert old.reuse_policy == WorkflowIDReusePolicy.ALLOW_DUPLICATE
    fine = EarlierRun("r2", WorkflowExecutionStatus.COMPLETED, Outcome.RESOLVED)
    assert (fine.failed, fine.how) == (False, "completed with outcome resolved")
    killed = EarlierRun("r3", WorkflowExecutionStatus.TERMINATED)
    assert (killed.failed, killed.how) == (True, "terminated")
    assert killed.reuse_policy == WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY


async def test_a_running_or_finished_run_is_not_rerun(env, settings, capsys):
    finished, running = ticket(), ticket()
    async with running_worker(env.client, settings):
        await (await start(env.client, settings, finished)).result()
    running_handle = await start(env.client, settings, running)  # no worker: stays running
    try:
        ids = [running["ticket_id"], finished["ticket_id"], "T-never-submitted", "T 1", ""]
        code, out, err = await retry_cli(env, settings, capsys, *ids)
        assert (code, err) == (1, "")
        assert out == [
            f"{ids[0]}\tnot rerun\tstill running",
            f"{ids[1]}\tnot rerun\tfinished with outcome resolved",
            "T-never-submitted\tnot rerun\tnever submitted",
            f"T 1\tnot rerun\tticket_id must be {TICKET_ID_RULE}",
            "\tnot rerun\tticket_id is empty",
        ]
        desc = await running_handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert await statuses(env.client, running_handle.id, runs=1) == [desc.status]
    finally:
        await running_handle.terminate()
