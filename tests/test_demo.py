"""The main job (`aiflow demo`) on a real Temporal server: the bundled tickets, twice."""

from __future__ import annotations

from starter import demo


def table(out: str) -> list[str]:
    """The demo's report, from its header on (log lines may come before it)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ticket", "outcome"])
    return lines[head:]


TOTALS = "tickets 51: awaiting_review 23, closed 7, rejected 6, resolved 15"


async def test_demo_processes_bundled_tickets_and_is_safe_to_rerun(env, settings, capsys):
    assert await demo.amain([], client=env.client, settings=settings) == 0
    first = table(capsys.readouterr().out)
    assert TOTALS in first
    assert (
        "model calls 77; rules and intake settled 13 tickets with none; "
        "cost $0.006307 (offline model: simulated prices)" in first
    )
    rows = {line.split()[0]: line.split()[1] for line in first[1:52]}
    assert (rows["T-1004"], rows["T-1031"], rows["T-1046"], rows["T-1041"]) == (
        "resolved",
        "closed",
        "rejected",
        "awaiting_review",
    )
    assert (
        "23 ticket(s) wait for a reviewer: "
        + ", ".join(
            [
                "T-1001",
                "T-1002",
                "T-1003",
                "T-1007",
                "T-1008",
                "T-1009",
                "T-1010",
                "T-1014",
                "T-1017",
                "T-1021",
                "T-1023",
                "T-1025",
                "T-1026",
                "T-1028",
                "T-1029",
                "T-1030",
                "T-1038",
                "T-1039",
                "T-1040",
                "T-1041",
                "T-1042",
                "T-1044",
                "T-1045",
            ]
        )
        in first
    )

    # Second run: nothing is processed again; every line is the recorded result.
    assert await demo.amain([], client=env.client, settings=settings) == 0
    second = table(capsys.readouterr().out)
    assert TOTALS in second
    ticket_lines = second[1:52]
    assert [
        line for line in ticket_lines if not line.endswith("already processed: recorded result")
    ] == []
    assert [line.split()[:2] for line in ticket_lines] == [line.split()[:2] for line in first[1:52]]


def test_where_to_look_names_the_cluster_the_demo_ran_on(settings):
    from starter.demo import where_to_look

    external = where_to_look(settings, [], cluster="temporal.example:7233").splitlines()
    embedded = where_to_look(settings, []).splitlines()
    assert external[1] == (
        "Temporal Web UI: the Web UI of temporal.example:7233  (filter: AiflowNeedsReview = true)"
    )
    assert "aiflow dev stop" not in "\n".join(external)
    assert embedded[1].startswith("Temporal Web UI: http://127.0.0.1:8233  ")
    assert embedded[-1] == "Stop the dev server with `aiflow dev stop`."


def test_a_failed_earlier_run_is_a_failed_row_naming_retry_and_hostile_ids_are_escaped():
    from temporalio.client import WorkflowExecutionStatus

    from starter.runs import EarlierRun
    from starter.submit import Submitted

    earlier = EarlierRun("run-1", WorkflowExecutionStatus.TERMINATED)
    row = demo.Row.of(Submitted("T-9", None, duplicate=True, earlier=earlier), None)
    assert (row.ticket_id, row.outcome, row.note) == (
        "T-9",
        "failed",
        "run failed: aiflow retry T-9",
    )
    bad = demo.Row.of(Submitted("\x1b[2J", None, error="ticket_id must be x\x07"), None)
    assert (bad.ticket_id, bad.outcome, bad.note) == (
        "\\x1b[2J",
        "not_started",
        "ticket_id must be x\\x07",
    )


async def test_the_demo_on_the_default_ladder_shows_its_tiers(tmp_path, capsys):
    """The shipped defaults: cache on, the offline small tiers first (on a server of its
    own: the demo's ticket ids are fixed, and the session's server has them already)."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from contracts.cache import CachePolicy
    from tests.conftest import _binary, make_settings
    from workflows.search_attributes import ALL_KEYS

    s = make_settings(tmp_path, cache=CachePolicy(enabled=True), cascade=None)
    own = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        search_attributes=ALL_KEYS,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        assert await demo.amain([], client=own.client, settings=s) == 0
    finally:
        await own.shutdown()
    out = table(capsys.readouterr().out)
    assert "tickets 51: awaiting_review 23, closed 7, rejected 6, resolved 15" in out
    assert (
        "model calls 108; rules and intake settled 13 tickets with none; "
        "cost $0.005565 (offline model: simulated prices)" in out
    )
    assert (
        "settled by tier: rules 13, exact 0, semantic 0, small 6, large 9, human 23 "
        "(cache hits 0; small: the cheaper model was good enough; human: a reviewer decides)" in out
    )
