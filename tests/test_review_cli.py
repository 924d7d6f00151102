"""Reviewer tools on a real dev server: `aiflow review` (in process and as a command) and
the Temporal CLI command lines the README documents, run exactly as written there."""

from __future__ import annotations

import asyncio
import json
import re
import shlex

import pytest

from contracts import Outcome
from starter import review as review_cli
from starter.runs import workflow_id_for
from tests.conftest import ROOT, _binary, running_worker
from tests.test_review_workflow import VIP, open_review
from tests.test_triage_workflow import start, ticket, wait_for_review


async def cli(capsys, client, settings, *argv: str) -> tuple[int, str, str]:
    code = await review_cli.amain(list(argv), client=client, settings=settings)
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_list_show_and_decide_from_the_terminal(env, settings, capsys):
    async with running_worker(env.client, settings):
        handle, tid = await open_review(env.client, settings)
        for _ in range(50):  # the run writes its review row right after it opens it
            code, listed, _ = await cli(capsys, env.client, settings, "list")
            if tid in listed:
                break
            await asyncio.sleep(0.1)
        _, stored, _ = await cli(capsys, env.client, settings, "list", "--from", "temporal")
        _, shown, _ = await cli(capsys, env.client, settings, "show", tid)
        refused = await cli(
            capsys, env.client, settings, "approve", tid, "--reviewer", "ana", "--version", "2"
        )
        edited = await cli(
            capsys,
            env.client,
            settings,
            *("edit", tid, "--reviewer", "ana", "--category", "shipping"),
            *("--decision-id", "d-cli-1"),
        )
        result = await handle.result()
    assert code == 0
    mine = [line for line in listed.splitlines() if line.startswith(tid)]
    assert len(mine) == 1
    assert re.fullmatch(
        rf"{tid}  +\d+s  +23h5\dm  +priority  +billing  +1\.00  +rule:vip-enterprise", mine[0]
    ), mine[0]
    [header] = [line for line in listed.splitlines() if line.startswith("TICKET")]
    assert header.split() == [
        "TICKET",
        "AGE",
        "SLA",
        "LEFT",
        "ROUTE",
        "CATEGORY",
        "CONF",
        "ESC",
        "ASSIGNEE",
        "REASONS",
    ]
    assert [line for line in stored.splitlines() if line.startswith(tid)][0].split()[3:] == [
        "priority",
        "billing",
        "1.00",
        "rule:vip-enterprise",
    ]
    assert f"ticket {tid} · run {handle.id}" in shown
    assert "INPUT" in shown and "AI PROPOSAL" in shown
    assert "subject:  Charged twice for my subscription" in shown
    assert "category: billing   priority: high" in shown
    assert refused == (
        3,
        "",
        "aiflow review: refused: stale version 2: the review is at version 1 "
        "(it was reassigned or escalated since; reload it)\n",
    )
    assert edited[0] == 0
    assert edited[1].startswith(f"edit applied: ticket {tid}, review rv-")
    assert edited[1].endswith(" now v1, decision d-cli-1\n")
    assert (result.outcome, result.category) == (Outcome.EDITED, "shipping")


async def test_reject_without_reason_is_an_argument_error(env, settings, capsys):
    with pytest.raises(SystemExit) as exit_:
        await review_cli.amain(["reject", "T-1", "--reviewer", "ana"], settings=settings)
    assert exit_.value.code == 2
    assert "the following arguments are required: --reason" in capsys.readouterr().err


def readme_temporal_lines() -> list[str]:
    """The `temporal workflow ...` lines of the README's Temporal CLI section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### With the Temporal CLI", 1)[1].split("\n### ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("temporal workflow ")]


async def temporal(env, line: str, ticket_id: str) -> tuple[int, str]:
    argv = shlex.split(line.replace("T-1001", ticket_id))
    host = env.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        _binary("temporal"),
        *argv[1:],
        "--address",
        host,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode()


async def test_the_readme_temporal_cli_lines_work_as_written(env, settings):
    query, approve, bad_edit, signal = readme_temporal_lines()
    async with running_worker(env.client, settings):
        handle_a, tid_a = await open_review(env.client, settings)
        queried = await temporal(env, query, tid_a)
        refused = await temporal(env, bad_edit, tid_a)
        approved = await temporal(env, approve, tid_a)
        result_a = await handle_a.result()
        again = await temporal(env, approve, tid_a)  # the same line after the run finished
        raw_b = ticket(**VIP)
        handle_b = await start(env.client, settings, raw_b)
        await wait_for_review(handle_b)
        signalled = await temporal(env, signal, raw_b["ticket_id"])
        result_b = await handle_b.result()
    assert queried[0] == 0, queried
    pending = json.loads(queried[1][queried[1].index("{") :])
    assert (pending["ticket_id"], pending["version"]) == (tid_a, 1)
    assert refused[0] != 0
    assert "category 'everything' is not one of billing, technical," in refused[1]
    assert approved[0] == 0, approved
    assert "decision_id:d-1001-1" in approved[1]
    assert f"review_id:{pending['review_id']} version:1]" in approved[1]
    assert result_a.outcome == Outcome.APPROVED
    # the README says so: after the run ended, the Temporal CLI cannot answer a resend
    assert again == (1, "Error: unable to update workflow: workflow execution already completed\n")
    assert handle_a.id == workflow_id_for(tid_a)
    assert signalled[0] == 0, signalled
    assert (result_b.outcome, result_b.steps[-2].details["reason"]) == (
        Outcome.REJECTED,
        "duplicate",
    )
