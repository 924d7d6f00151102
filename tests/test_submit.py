"""`aiflow submit` against hostile input and earlier runs, on a real Temporal dev server:
client caps, escaped output, one-line user errors (the CLI as a real process), and what
it says about a ticket submitted before."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from contracts import Outcome
from contracts.limits import MAX_LINE_BYTES, TICKET_ID_RULE
from starter import submit
from starter.runs import workflow_id_for
from starter.terminal import CliError, safe_text
from starter.ticket_file import iter_tickets
from tests.conftest import ROOT, running_worker
from tests.test_processes import base_env, free_ports
from tests.test_triage_workflow import start, ticket

ID_RULE = f"ticket_id must be {TICKET_ID_RULE}"


def jsonl(tmp_path: Path, *rows: dict | str, name: str = "tickets.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), "utf-8"
    )
    return path


pytestmark = pytest.mark.usefixtures("quiet_logs")


async def submit_cli(env, settings, capsys, *argv: str) -> tuple[int, list[str], str]:
    """Exit code, report lines and stderr of `aiflow submit` (a worker's log lines, also on
    stdout in tests, are left out: report lines have tabs, log lines none)."""
    capsys.readouterr()
    code = await submit.amain(list(argv), client=env.client, settings=settings)
    captured = capsys.readouterr()
    out = [line for line in captured.out.splitlines() if "\t" in line]
    return code, out, captured.err


async def never_started(client, ticket_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id_for(ticket_id)).describe()
    except RPCError as err:
        return err.status == RPCStatusCode.NOT_FOUND
    return False


async def statuses(client, workflow_id: str, runs: int = 2) -> list[WorkflowExecutionStatus]:
    """The statuses of a workflow id's runs, once visibility (eventually consistent) has
    all `runs` of them."""
    for _ in range(50):
        found = [r.status async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if len(found) >= runs:
            break
        await asyncio.sleep(0.1)
    return sorted(found)


def cli(
    tmp_path: Path, *args: str, address: str, stdout=subprocess.PIPE, **extra: str
) -> subprocess.Popen:
    env = base_env(
        tmp_path, TEMPORAL_ADDRESS=address, AIFLOW_STATE_DIR=str(tmp_path / "var"), **extra
    )
    return subprocess.Popen(
        [sys.executable, "-m", "starter.cli", *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(tmp_path: Path, *args: str, address: str, **extra: str) -> tuple[int, str, str]:
    proc = cli(tmp_path, *args, address=address, **extra)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def unused_address() -> str:
    return f"127.0.0.1:{free_ports(1)[0]}"


# --- terminal text ----------------------------------------------------------------------


def test_safe_text_escapes_and_caps() -> None:
    assert safe_text("T-1") == "T-1"
    assert safe_text("T\x00-1\x07\x1b[31m\t\n") == "T\\x00-1\\x07\\x1b[31m\\x09\\x0a"
    assert safe_text("a\u200bb\u202ec\U000e0001 é") == "a\\u200bb\\u202ec\\U000e0001 é"
    assert safe_text("x" * 81) == "x" * 80 + "..."
    assert safe_text("x" * 80) == "x" * 80
    assert safe_text("\x1b" * 10, limit=3) == "\\x1b\\x1b\\x1b..."


# --- client caps: nothing over a cap reaches Temporal ------------------------------------


async def test_each_cap_is_one_line_naming_the_field_and_nothing_starts(
    env, settings, capsys, tmp_path
):
    tag = uuid.uuid4().hex[:8]
    base = ticket()
    over = {
        "subject": "s" * 1001,
        "body": "b" * 5_000_001,
        "customer_email": "e" * 255,
        "customer_name": "n" * 1_048_576,
        "channel": "c" * 65,
        "customer_tier": "t" * 65,
        "language": "l" * 65,
        "body_ref": "r" * 201,
    }
    rows = [base | {"ticket_id": f"T-{tag}-{field}", field: value} for field, value in over.items()]
    rows += [
        base | {"ticket_id": f"T-{tag}-keys", "metadata": {f"k{i}": "v" for i in range(51)}},
        base | {"ticket_id": f"T-{tag}-key", "metadata": {"k" * 201: "v"}},
        base | {"ticket_id": f"T-{tag}-value", "metadata": {"k": "v" * 501}},
        base | {"ticket_id": f"T-{tag}-two", "subject": "s" * 1001, "language": "l" * 65},
        base | {"ticket_id": f"T-{tag}-surrogate", "customer_name": "Ann\ud800"},
        base | {"ticket_id": "a" * 65},
    ]
    code, out, err = await submit_cli(env, settings, capsys, str(jsonl(tmp_path, *rows)))
    assert (code, err) == (1, "")
    assert out == [
        f"T-{tag}-subject\tnot started\tsubject has 1001 characters; the limit is 1000",
        f"T-{tag}-body\tnot started\tbody has 5000001 characters; the limit is 5000000",
        f"T-{tag}-customer_email\tnot started\tcustomer_email has 255 characters; the limit is 254",
        f"T-{tag}-customer_name\tnot started\t"
        "customer_name has 1048576 characters; the limit is 1000",
        f"T-{tag}-channel\tnot started\tchannel has 65 characters; the limit is 64",
        f"T-{tag}-customer_tier\tnot started\tcustomer_tier has 65 characters; the limit is 64",
        f"T-{tag}-language\tnot started\tlanguage has 65 characters; the limit is 64",
        f"T-{tag}-body_ref\tnot started\tbody_ref has 201 characters; the limit is 200",
        f"T-{tag}-keys\tnot started\tmetadata has 51 keys; the limit is 50",
        f"T-{tag}-key\tnot started\ta metadata key has 201 characters; the limit is 200",
        f"T-{tag}-value\tnot started\ta metadata value has 501 characters; the limit is 500",
        f"T-{tag}-two\tnot started\tsubject has 1001 characters; the limit is 1000; "
        "language has 65 characters; the limit is 64",
        f"T-{tag}-surrogate\tnot started\t"
        "customer_name has a lone surrogate '\\ud800': it cannot be sent",
        f"{'a' * 65}\tnot started\tticket_id has 65 characters; the limit is 64",
    ]
    for row in rows:
        assert await never_started(env.client, row["ticket_id"]), row["ticket_id"]


async def test_a_ticket_at_every_cap_starts(env, settings, capsys, tmp_path):
    raw = ticket(
        ticket_id=f"T-{uuid.uuid4().hex[:8]}" + "x" * 54,
        subject="s" * 1000,
        customer_name="n" * 1000,
        metadata={f"k{i:02d}" + "k" * 197: "v" * 500 for i in range(50)},
    )
    assert len(raw["ticket_id"]) == 64
    code, out, _ = await submit_cli(env, settings, capsys, str(jsonl(tmp_path, raw)))
    wf_id = workflow_id_for(raw["ticket_id"])
    assert (code, out) == (0, [f"{raw['ticket_id']}\tstarted\t{wf_id}"])
    await env.client.get_workflow_handle(wf_id).terminate()


async def test_hostile_and_empty_ids_are_refused_and_shown_escaped(env, settings, capsys, tmp_path):
    base = ticket()
    rows = [
        base | {"ticket_id": "T\x00-1"},
        base | {"ticket_id": "T\x07-2"},
        base | {"ticket_id": "\x1b[31mT-3\x1b[0m"},
        base | {"ticket_id": ""},
        {k: v for k, v in base.items() if k != "ticket_id"},
        base | {"ticket_id": "   "},
        base | {"ticket_id": 42},
        base | {"ticket_id": "T-4", "metadata": {"\x1b]0;pwned\x07": 1}},
        base | {"ticket_id": "\x1b" * 300},
    ]
    code, out, err = await submit_cli(env, settings, capsys, str(jsonl(tmp_path, *rows)))
    assert (code, err) == (1, "")
    assert out == [
        f"T\\x00-1\tnot started\t{ID_RULE}",
        f"T\\x07-2\tnot started\t{ID_RULE}",
        f"\\x1b[31mT-3\\x1b[0m\tnot started\t{ID_RULE}",
        "line 4\tnot started\tticket_id is empty",
        "line 5\tnot started\tticket_id is missing",
        f"line 6\tnot started\t{ID_RULE}",
        "line 7\tnot started\tnot a ticket: ticket_id: Input should be a valid string",
        "T-4\tnot started\tnot a ticket: metadata.\\x1b]0;pwned\\x07: Input should be a valid "
        "string",
        "\\x1b" * 80 + "...\tnot started\tticket_id has 300 characters; the limit is 64",
    ]
    assert not {"\x00", "\x07", "\x1b"} & set("\n".join(out))


# --- the file ---------------------------------------------------------------------------


def test_file_errors_name_the_line(tmp_path) -> None:
    def first_error(content: bytes, name: str = "t.jsonl") -> str:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CliError) as caught:
            list(iter_tickets(path))
        return str(caught.value)

    good = json.dumps(ticket()).encode() + b"\n"
    assert first_error(good + b"\n{oops\n") == (
        "line 3 is not JSON: Expecting property name enclosed in double quotes at column 2"
    )
    assert first_error(good + b'"T-1"\n') == "line 2 is a JSON string, not a ticket object"
    assert first_error(b"[1]\n") == "line 1 is a JSON array, not a ticket object"
    assert first_error(b"null\n") == "line 1 is JSON null, not a ticket object"
    assert first_error(b'{"ticket_id": "T-\xff"}\n') == "line 1 is not UTF-8 text (byte 18)"
    assert first_error(b"[" * 100_000 + b"\n") == ("line 1 is not a ticket: JSON nested too deeply")
    assert first_error(b'{"ticket_id": "T-1", "body_chars": ' + b"9" * 5000 + b"}\n") == (
        "line 1 is not a ticket: a number too long to read"
    )
    huge = b'{"body": "' + b"x" * MAX_LINE_BYTES + b'"}\n' + good
    assert first_error(huge) == "line 1 has more than 33554432 bytes; the limit is 33554432"
    assert first_error(b'[{"ticket_id": "T-1"}, 7]', "t.json") == (
        f"{tmp_path / 't.json'}: item 2 is a JSON number, not a ticket object"
    )
    assert first_error(b'{"ticket_id": "T-1",}', "t.json") == (
        f"{tmp_path / 't.json'} is not JSON: Expecting property name enclosed in double quotes "
        "at line 1, column 21"
    )
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(CliError) as caught:
        list(iter_tickets(tmp_path / "d.jsonl"))
    assert str(caught.value) == f"cannot read {tmp_path / 'd.jsonl'}: Is a directory"


def test_a_jsonl_file_is_read_line_by_line(tmp_path) -> None:
    path = jsonl(tmp_path, ticket(ticket_id="T-1"), "", "  ", ticket(ticket_id="T-2"))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a BOM, as some editors write
    found = iter_tickets(path)
    assert next(found)[0] == "line 1"
    path.write_text("not json at all\n")  # the rest is read as the iteration goes
    assert next(found)[0] == "line 4"


# --- user errors: one line on stderr, no traceback (the CLI as a real process) -----------


def test_missing_file(tmp_path) -> None:
    missing = tmp_path / "missing.jsonl"
    code, out, err = run_cli(tmp_path, "submit", str(missing), address=unused_address())
    assert (code, out, err) == (
        2,
        "",
        f"aiflow submit: cannot read {missing}: No such file or directory\n",
    )


async def test_invalid_json_line_starts_nothing(env, tmp_path):
    good = ticket()
    path = jsonl(tmp_path, good, '{"ticket_id": "T-2", body: 1}')
    address = env.client.service_client.config.target_host
    code, out, err = run_cli(tmp_path, "submit", str(path), address=address)
    assert (code, out, err) == (
        2,
        "",
        "aiflow submit: line 2 is not JSON: Expecting property name enclosed in double quotes "
        "at column 22\n",
    )
    assert await never_started(env.client, good["ticket_id"])


def test_a_body_limit_that_would_overflow_a_payload_is_an_invalid_setting(tmp_path) -> None:
    path = jsonl(tmp_path, ticket())
    code, out, err = run_cli(
        tmp_path, "submit", str(path), address=unused_address(), AIFLOW_MAX_BODY_CHARS="250001"
    )
    assert (code, out, err) == (
        2,
        "",
        "aiflow submit: invalid setting max_body_chars: "
        "Input should be less than or equal to 250000\n",
    )


def test_unreachable_server_names_the_address(tmp_path) -> None:
    address = unused_address()
    path = jsonl(tmp_path, ticket())
    for command in (["submit", str(path)], ["retry", "T-1"]):
        code, out, err = run_cli(tmp_path, *command, address=address)
        assert (code, out, err) == (
            4,
            "",
            f"aiflow {command[0]}: cannot reach Temporal at {address} (from TEMPORAL_ADDRESS): "
            "Connection refused\n",
        )


async def test_a_closed_stdout_ends_quietly(env, tmp_path):
    path = jsonl(tmp_path, *({"subject": "no id"} for _ in range(20_000)))
    address = env.client.service_client.config.target_host
    proc = cli(tmp_path, "submit", str(path), address=address)
    assert proc.stdout.readline() == "line 1\tnot started\tticket_id is missing\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == ""


# --- a ticket submitted before ----------------------------------------------------------


async def test_already_submitted_says_how_the_earlier_run_stands(env, settings, capsys, tmp_path):
    running, finished, failed = ticket(), ticket(), ticket()
    async with running_worker(env.client, settings):
        result = await (await start(env.client, settings, finished)).result()
    assert result.outcome == Outcome.RESOLVED
    running_handle = await start(env.client, settings, running)  # no worker: it stays running
    await (await start(env.client, settings, failed)).terminate()

    path = jsonl(tmp_path, running, finished, failed)
    code, out, err = await submit_cli(env, settings, capsys, str(path))
    ids = [t["ticket_id"] for t in (running, finished, failed)]
    wf = [workflow_id_for(i) for i in ids]
    assert (code, err) == (3, "")
    assert out == [
        f"{ids[0]}\talready submitted (running)\t{wf[0]}",
        f"{ids[1]}\talready submitted (finished: resolved)\t{wf[1]}",
        f"{ids[2]}\talready submitted (failed: run aiflow retry {ids[2]})\t{wf[2]}",
    ]

    # --rerun runs the failed one again, from the file; the others are left as they are.
    async with running_worker(env.client, settings):
        code, out, err = await submit_cli(env, settings, capsys, "--rerun", "--wait", str(path))
    assert (code, err) == (0, "")
    assert out == [
        f"{ids[0]}\talready submitted (running)\t{wf[0]}\tresolved",
        f"{ids[1]}\talready submitted (finished: resolved)\t{wf[1]}\tresolved",
        f"{ids[2]}\trerun\t{wf[2]} (earlier run terminated)\tresolved",
    ]
    assert await statuses(env.client, wf[2]) == [
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.TERMINATED,
    ]
    assert (await running_handle.describe()).status == WorkflowExecutionStatus.COMPLETED
