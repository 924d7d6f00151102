"""CLI manners (issue 13), as users meet them: the `aiflow` command as a real process.
Every client command connects where the dev server is (AIFLOW_DEV_PORT) unless Temporal's
env config names a server, and says which it used; a user error is one line and an exit
code of starter/terminal.py's table, never a traceback; a closed stdout ends quietly; the
demo shows its progress and sizes its columns to their content."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from deployment import temporal_target
from settings import Settings
from starter import demo
from starter.runs import NotSettling, settle
from starter.submit import Submitted
from starter.tables import table
from starter.terminal import Progress
from tests.conftest import make_settings, running_worker
from tests.test_processes import Ran, aiflow, aiflow_bin, base_env, free_ports
from tests.test_triage_workflow import start, ticket

pytestmark = pytest.mark.usefixtures("quiet_logs")


def cli_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], int]:
    """A shell with no Temporal or aiflow configuration but a dev port nothing listens on."""
    port = free_ports(1)[0]
    env = base_env(tmp_path, AIFLOW_STATE_DIR=str(tmp_path / "var"), AIFLOW_DEV_PORT=str(port))
    env.update(extra)
    return env, port


def one_line(ran: Ran, code: int, line: str) -> None:
    """The run printed exactly `line` on stderr, nothing on stdout, and exited `code`."""
    assert (ran.code, ran.err, ran.out) == (code, line + "\n", ""), ran
    assert "Traceback" not in ran.err


def jsonl(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tickets.jsonl"
    path.write_text(text)
    return path


# --- addresses ---------------------------------------------------------------------------


async def test_every_client_command_connects_to_the_dev_port_and_names_it(tmp_path):
    env, port = cli_env(tmp_path)
    tickets = jsonl(tmp_path, '{"ticket_id": "T-1", "subject": "s", "body": "b"}\n')
    commands = [
        ["status", "T-1"],
        ["submit", str(tickets)],
        ["retry", "T-1"],
        ["run", "tickets", str(tickets)],
        ["review", "show", "T-1"],
        ["parked"],
        ["drift", "show"],
    ]
    runs = await asyncio.gather(*(aiflow(*c, env=env, cwd=tmp_path) for c in commands))
    for command, ran in zip(commands, runs, strict=True):
        one_line(
            ran,
            4,
            f"aiflow {command[0]}: cannot reach Temporal at 127.0.0.1:{port} "
            "(from AIFLOW_DEV_PORT): Connection refused",
        )


async def test_temporal_env_config_wins_over_the_dev_port(tmp_path):
    env, _ = cli_env(tmp_path)
    other, profiled = free_ports(2)
    profile = tmp_path / "temporal.toml"
    profile.write_text(f'[profile.default]\naddress = "127.0.0.1:{profiled}"\n')
    by_env, by_profile = await asyncio.gather(
        aiflow(
            "status", "T-1", env={**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{other}"}, cwd=tmp_path
        ),
        aiflow("status", "T-1", env={**env, "TEMPORAL_CONFIG_FILE": str(profile)}, cwd=tmp_path),
    )
    one_line(
        by_env,
        4,
        f"aiflow status: cannot reach Temporal at 127.0.0.1:{other} (from TEMPORAL_ADDRESS): "
        "Connection refused",
    )
    one_line(
        by_profile,
        4,
        f"aiflow status: cannot reach Temporal at 127.0.0.1:{profiled} "
        "(from Temporal profile 'default'): Connection refused",
    )


def test_the_address_rule(monkeypatch, tmp_path):
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "none.toml"))
    plain = Settings(_env_file=None)
    moved = Settings(_env_file=None, dev_port=7299)
    wildcard = Settings(_env_file=None, dev_ip="0.0.0.0", dev_port=7300)
    assert [(t.address, t.source) for t in map(temporal_target, (plain, moved, wildcard))] == [
        ("127.0.0.1:7233", "default"),
        ("127.0.0.1:7299", "from AIFLOW_DEV_PORT"),
        ("127.0.0.1:7300", "from AIFLOW_DEV_IP and AIFLOW_DEV_PORT"),
    ]
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    target = temporal_target(moved)
    assert (target.address, target.source) == ("temporal.example:7233", "from TEMPORAL_ADDRESS")


# --- user errors: one line, a documented exit code ---------------------------------------


async def test_bad_flag_values_are_usage_errors_and_start_nothing(tmp_path):
    env, _ = cli_env(tmp_path)
    cases = {
        ("demo", "--concurrency", "0"): "aiflow demo: argument --concurrency: must be at least "
        "1, not 0 (see aiflow demo --help)",
        ("demo", "--concurrency", "-3"): "aiflow demo: argument --concurrency: must be at least "
        "1, not -3 (see aiflow demo --help)",
        ("demo", "--concurrency", "many"): "aiflow demo: argument --concurrency: not a whole "
        "number: 'many' (see aiflow demo --help)",
        ("demo", "--workflow", "nope"): "aiflow demo: unknown workflow 'nope' (known: tickets, "
        "documents, content)",
        ("status",): "aiflow status: the following arguments are required: ticket_id "
        "(see aiflow status --help)",
        ("parked", "retry"): "aiflow parked: retry: name ticket ids or --all "
        "(see aiflow parked --help)",
        ("drift", "schedule", "--every", "10s"): "aiflow drift schedule: argument --every: the "
        "interval must be at least 1m (see aiflow drift schedule --help)",
    }
    t0 = time.monotonic()
    runs = await asyncio.gather(*(aiflow(*argv, env=env, cwd=tmp_path) for argv in cases))
    for line, ran in zip(cases.values(), runs, strict=True):
        one_line(ran, 2, line)
    assert time.monotonic() - t0 < 60  # `demo --concurrency 0` used to hang
    assert not (tmp_path / "var" / "temporal-dev.pid").exists()  # no dev server was started


async def test_missing_and_invalid_ticket_files(tmp_path):
    env, _ = cli_env(tmp_path)
    missing = tmp_path / "missing.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ticket_id": "T-1", "subject": "s", "body": "b"}\n{"ticket_id": }\n')
    cases = {
        ("submit", str(missing)): f"aiflow submit: cannot read {missing}: No such file or "
        "directory",
        ("demo", "--tickets", str(missing)): f"aiflow demo: cannot read {missing}: No such "
        "file or directory",
        ("run", "tickets", str(missing)): f"aiflow run: cannot read {missing}: No such file "
        "or directory",
        ("submit", str(bad)): "aiflow submit: line 2 is not JSON: Expecting value at column 15",
        ("demo", "--tickets", str(bad)): "aiflow demo: line 2 is not JSON: Expecting value at "
        "column 15",
    }
    runs = await asyncio.gather(*(aiflow(*argv, env=env, cwd=tmp_path) for argv in cases))
    for line, ran in zip(cases.values(), runs, strict=True):
        one_line(ran, 2, line)
    assert not (tmp_path / "var" / "temporal-dev.pid").exists()


async def test_invalid_settings_and_temporal_config_are_usage_errors(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[profile.default\n")
    env, _ = cli_env(tmp_path)
    port, toml = await asyncio.gather(
        aiflow("status", "T-1", env={**env, "AIFLOW_DEV_PORT": "70000"}, cwd=tmp_path),
        aiflow("status", "T-1", env={**env, "TEMPORAL_CONFIG_FILE": str(broken)}, cwd=tmp_path),
    )
    one_line(
        port,
        2,
        "aiflow status: invalid setting dev_port: Input should be less than or equal to 65535",
    )
    one_line(
        toml,
        2,
        "aiflow status: invalid Temporal configuration: Configuration loading error: "
        "TOML parse error at line 1, column 17",
    )


async def test_a_store_that_is_down_is_one_line_without_its_password(tmp_path):
    port = free_ports(1)[0]
    env, _ = cli_env(
        tmp_path, DATABASE_URL=f"postgresql+psycopg://aiflow:secret@127.0.0.1:{port}/a"
    )
    runs = await asyncio.gather(*(aiflow(c, env=env, cwd=tmp_path) for c in ("report", "breakers")))
    for command, ran in zip(("report", "breakers"), runs, strict=True):
        one_line(
            ran,
            4,
            f"aiflow {command}: cannot open the store: connection failed: connection to server "
            f'at "127.0.0.1", port {port} failed: Connection refused',
        )


async def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    """A server that accepts but never answers: `aiflow status` waits in its connect, and
    Ctrl-C there ends it with one line."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    env, _ = cli_env(tmp_path, TEMPORAL_ADDRESS=f"127.0.0.1:{silent.getsockname()[1]}")
    proc = subprocess.Popen(
        [aiflow_bin(), "status", "T-1"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        silent.settimeout(30)
        conn, _ = await asyncio.to_thread(silent.accept)  # the command is connecting now
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        conn.close()
    finally:
        proc.kill()
        silent.close()
    assert (proc.returncode, err, out) == (130, "aiflow status: interrupted\n", "")


def test_a_bug_is_one_line_and_its_traceback_goes_to_a_file(tmp_path):
    env, _ = cli_env(tmp_path)
    code = (
        "import sys, starter.cli, starter.workflows_cmd as w\n"
        "def boom(argv=None): return 1 / 0\n"
        "w.main = boom\n"
        "sys.exit(starter.cli.main(['workflows']))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    log = tmp_path / "var" / "cli-error.log"
    one_line(
        Ran(ran.returncode, ran.stdout, ran.stderr),
        70,
        "aiflow workflows: internal error ZeroDivisionError: division by zero "
        f"(a bug; the traceback is in {log})",
    )
    assert "Traceback (most recent call last)" in log.read_text()
    assert "ZeroDivisionError: division by zero" in log.read_text()


# --- a closed stdout ---------------------------------------------------------------------


def closed_stdout(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run with a stdout whose reader is gone, as after `| head` has exited."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        ran = subprocess.run(
            [aiflow_bin(), *args], env=env, cwd=cwd, stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    return ran.returncode, ran.stderr.decode()


@pytest.mark.parametrize("args", [["--help"], ["workflows"], ["breakers"], ["cache", "list"]])
def test_a_closed_stdout_ends_quietly_without_a_server(tmp_path, args):
    env, _ = cli_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    assert closed_stdout(args, env, tmp_path) == (141, "")


async def test_status_into_a_closed_pipe_ends_quietly(env, tmp_path):
    settings = make_settings(tmp_path)
    raw = ticket()
    async with running_worker(env.client, settings):
        handle = await start(env.client, settings, raw)
        await asyncio.wait_for(handle.result(), 60)
    shell = base_env(
        tmp_path,
        TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
        AIFLOW_STATE_DIR=str(tmp_path / "var"),
    )
    shown = await aiflow("status", raw["ticket_id"], env=shell, cwd=tmp_path)
    assert (shown.code, shown.err, shown.out.startswith("{")) == (0, "", True), shown
    closed = await asyncio.to_thread(closed_stdout, ["status", raw["ticket_id"]], shell, tmp_path)
    assert closed == (141, "")


# --- progress and tables -----------------------------------------------------------------


async def test_progress_off_a_terminal_is_a_line_every_interval_and_one_at_the_end():
    out = io.StringIO()  # not a terminal
    async with Progress("aiflow demo", "tickets", 3, every=0.2, stream=out) as p:
        p.advance("resolved")
        await asyncio.sleep(0.5)  # two lines: 1 done, then none more
        p.advance("awaiting_review")
        p.advance("resolved")
    lines = [re.sub(r"\d+s", "Ns", line) for line in out.getvalue().splitlines()]
    assert lines == [
        "aiflow demo: 0/3 tickets done in Ns",
        "aiflow demo: 1/3 tickets done in Ns (resolved 1)",
        "aiflow demo: 1/3 tickets done in Ns (resolved 1); none finished in the last Ns",
        "aiflow demo: 3/3 tickets done in Ns (awaiting_review 1, resolved 2)",
    ]


def test_the_demo_table_fits_its_content():
    long_id = "T-" + "x" * 38  # 40 characters
    rows = [
        demo.Row("T-1", "resolved", "general", "billing", 0.9, 0.0001, 1234.0, 9, 1),
        demo.Row(long_id, "awaiting_review", "billing-escalations", None, None, 0.0, 5.0, 3),
        demo.Row.of(Submitted("\x1b[2J", None, error="ticket_id must be x"), None),
    ]
    lines = demo.report(rows, 1.0).splitlines()[:4]
    assert lines[0].split() == [*demo.COLUMNS[:5], "cost", "$", *demo.COLUMNS[6:]]
    starts = {name: lines[0].index(name) for name in ("outcome", "route", "category", "note")}
    for line, row in zip(lines[1:], rows, strict=True):
        assert line.index(row.outcome) == starts["outcome"], lines
        assert line.index(row.route, starts["outcome"]) == starts["route"], lines
    assert lines[2].startswith(long_id + "  awaiting_review")
    assert lines[3].startswith("\\x1b[2J")  # escaped, not sent to the terminal raw
    assert table(["n", "x"], [["1", "a"], ["100", "b"]], right={0}) == "  n  x\n  1  a\n100  b"


# --- following a run: a failing status query is retried, bounded and reported ------------


class SilentRun:
    """A run whose result never comes and whose status query fails `failures` times."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.asked = failures, error, 0

    async def result(self):
        await asyncio.Event().wait()

    async def query(self, *args, **kwargs):
        self.asked += 1
        if self.asked <= self.failures:
            raise self.error
        return "in review"


async def ask(handle: SilentRun) -> str:
    return await handle.query("status")


async def test_a_failing_status_query_is_asked_again_then_reported():
    timeout = RPCError("query timed out", RPCStatusCode.DEADLINE_EXCEEDED, b"")
    flaky = SilentRun(2, timeout)
    assert await settle(flaky, ask, poll=0.01, attempts=3) == (None, "in review")
    broken = SilentRun(99, WorkflowQueryFailedError("no such query"))
    with pytest.raises(NotSettling) as caught:
        await settle(broken, ask, poll=0.01, attempts=3)
    assert str(caught.value) == "its status query failed 3 times in a row (last: no such query)"
    gone = SilentRun(99, RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""))
    with pytest.raises(RPCError):  # the server went away: the command reports it, exit 4
        await settle(gone, ask, poll=0.01, attempts=3)
    assert gone.asked == 1


async def test_status_of_a_run_no_worker_answers_for_is_one_line(env, tmp_path):
    settings = make_settings(tmp_path)
    handle = await start(env.client, settings, ticket())  # no worker serves its queue
    shell = base_env(
        tmp_path,
        TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
        AIFLOW_STATE_DIR=str(tmp_path / "var"),
    )
    try:
        ran = await aiflow("status", handle.id.removeprefix("ticket-"), env=shell, cwd=tmp_path)
    finally:
        await handle.terminate()
    one_line(ran, 1, f"aiflow status: {handle.id}: no worker answered in 5s: is one running?")
