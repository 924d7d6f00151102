"""aiflow as users run it: `python worker.py` and the `aiflow` command as real processes,
configured only through the environment, stopped by signals."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from activities.store import Store
from contracts import Outcome, RunState, Stage
from settings import Settings
from starter.submit import submit, wait_settled, workflow_id_for
from tests.conftest import ROOT, _binary, make_settings
from tests.test_triage_workflow import ticket
from workflows.search_attributes import ALL_KEYS, SEARCH_ATTRIBUTE_TYPES

GRACE_SECONDS = 5
COMMANDS = [
    "demo",
    "dev",
    "worker",
    "workflows",
    "run",
    "submit",
    "retry",
    "status",
    "review",
    "feedback",
    "report",
    "breakers",
    "cache",
    "parked",
    "drift",
    "erase",
    "purge",
    "codec",
    "keys",
]


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment minus anything that configures aiflow or Temporal, so a
    developer's shell or ~/.config/temporal profile cannot leak into a test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "AIFLOW_")) and k != "DATABASE_URL"
    }
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-such-temporal-config.toml")
    env.update(extra)
    return env


def worker_env(tmp_path: Path, settings: Settings, address: str, **extra: str) -> dict[str, str]:
    return base_env(
        tmp_path,
        **{
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "default",
            "AIFLOW_ORCHESTRATION_QUEUE": settings.orchestration_queue,
            "AIFLOW_MODEL_QUEUE": settings.model_queue,
            "AIFLOW_STATE_DIR": str(settings.state_dir),
            "DATABASE_URL": settings.database_url,
            "AIFLOW_SEARCH_ATTRIBUTES": settings.search_attributes,
            "AIFLOW_LOG_FORMAT": "json",
            "AIFLOW_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
            # the ladder as the test's settings have it (make_settings: off)
            "AIFLOW_CACHE": settings.cache.model_dump_json(exclude_unset=True),
            "AIFLOW_SPAM_DETECTION": "true" if settings.spam_detection else "false",
            **(
                {
                    "AIFLOW_CASCADE": json.dumps(
                        {k: v.model_dump() for k, v in settings.cascade.items()}
                    )
                }
                if settings.cascade is not None
                else {}
            ),
            **extra,
        },
    )


def process_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, shutdown_grace_seconds=GRACE_SECONDS)


def aiflow_bin() -> str:
    return _binary("aiflow")


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Proc:
    """A child process in its own process group, its output captured in files."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path, logs: Path):
        logs.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.out_path = logs / f"{name}.stdout"
        self.err_path = logs / f"{name}.stderr"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own group: Ctrl-C emulation and cleanup
            )
        self.pid = self.popen.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def events(self) -> list[dict]:
        """The structured log: stderr lines that are JSON objects with an `event`."""
        found = []
        for line in self.stderr().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and "event" in item:
                found.append(item)
        return found

    def event_names(self) -> list[str]:
        return [e["event"] for e in self.events()]

    def event(self, name: str) -> dict:
        matches = [e for e in self.events() if e["event"] == name]
        assert len(matches) == 1, f"{self.name}: {len(matches)} {name!r} events\n{self.report()}"
        return matches[0]

    def report(self) -> str:
        tail = "\n".join(self.stderr().splitlines()[-40:])
        return (
            f"--- {self.name} (pid {self.pid}, exit {self.popen.poll()})\n"
            f"stdout:\n{self.stdout()[-3000:]}\nstderr (tail):\n{tail}"
        )

    async def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.popen.poll() is not None:
                if check():  # written just before it exited
                    return
                pytest.fail(f"{self.name} exited before {what}\n{self.report()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: no {what} after {timeout:.0f}s\n{self.report()}")
            await asyncio.sleep(0.1)

    async def wait_event(self, name: str, timeout: float = 60) -> dict:
        await self.wait_for(f"{name!r} log event", lambda: name in self.event_names(), timeout)
        return self.event(name)

    async def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.popen.poll()

    def kill(self) -> None:
        """Cleanup: SIGKILL this process's group (itself and the children it started)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def assert_clean_exit(proc: Proc, code: int | None) -> None:
    """Exit 0 after a logged, complete shutdown.

    temporalio 1.35 on Python 3.11 sometimes aborts at interpreter exit (SIGABRT,
    `Fatal Python error: PyGILState_Release`) after the program's work is done
    (/work/shared/notes-offline.md). -6 is accepted ONLY when `worker.stopped` was logged,
    i.e. the shutdown itself completed; it is reported as a warning so it stays visible.
    """
    names = proc.event_names()
    assert "worker.stopping" in names and "worker.stopped" in names, proc.report()
    assert names.index("worker.stopping") < names.index("worker.stopped"), proc.report()
    assert names[-1] == "worker.stopped", proc.report()
    if code == -signal.SIGABRT:
        warnings.warn(f"{proc.name}: SIGABRT at exit after worker.stopped", stacklevel=2)
        return
    assert code == 0, proc.report()


def start_worker(tmp_path: Path, env: dict[str, str], name: str = "worker") -> Proc:
    return Proc(name, [sys.executable, "worker.py"], env, ROOT, tmp_path / "logs")


async def stop_worker(proc: Proc, sig: int = signal.SIGTERM) -> None:
    """Signal the worker; it must be gone within the shutdown grace period."""
    proc.popen.send_signal(sig)
    code = await proc.wait_exit(GRACE_SECONDS)
    assert code is not None, f"worker still running {GRACE_SECONDS}s after {sig!r}\n{proc.report()}"
    assert_clean_exit(proc, code)


async def start_ticket(client: Client, settings: Settings, raw: dict):
    store = Store(settings.store_url)
    store.create_schema()
    try:
        sub = await submit(client, settings, store, raw)
    finally:
        store.close()
    assert sub.error is None and not sub.duplicate
    return sub.handle


# --- 1. python worker.py ----------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_worker_process_triages_a_ticket_and_stops_on_sigterm(env, tmp_path):
    settings = process_settings(tmp_path)
    address = env.client.service_client.config.target_host
    proc = start_worker(tmp_path, worker_env(tmp_path, settings, address))
    try:
        started = await proc.wait_event("worker.started", timeout=60)
        assert (started["namespace"], started["queues"]) == ("default", ["models", "orchestration"])

        handle = await start_ticket(env.client, settings, ticket())
        try:
            result = await asyncio.wait_for(handle.result(), timeout=60)
        except TimeoutError:
            pytest.fail(f"no result from the worker process after 60s\n{proc.report()}")
        assert result.outcome == Outcome.RESOLVED
        # The run was persisted by the worker process into the DATABASE_URL it was given.
        store = Store(settings.store_url)
        try:
            row = store.get_run(handle.id)
        finally:
            store.close()
        assert (row.stage, row.outcome) == ("done", "resolved")

        await stop_worker(proc)
        assert proc.event("worker.stopping")["grace_seconds"] == GRACE_SECONDS
    finally:
        proc.kill()


# --- 2. search attributes on a namespace without them ------------------------------------


async def fresh_namespace(client: Client, prefix: str) -> str:
    """A new namespace on the dev server, returned once the frontend serves it."""
    ns = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=ns, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=ns))
            await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=ns)
            )
            return ns
        except RPCError as err:
            if time.monotonic() > deadline:
                pytest.fail(f"namespace {ns} not usable 30s after registering: {err}")
            await asyncio.sleep(0.2)


async def custom_attributes(client: Client, ns: str) -> dict[str, int]:
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=ns)
    )
    return dict(resp.custom_attributes)


@pytest.mark.timeout(180)
async def test_worker_verify_refuses_a_namespace_without_attributes(env, tmp_path):
    ns = await fresh_namespace(env.client, "aiflow-verify")
    assert not set(await custom_attributes(env.client, ns)) & {k.name for k in ALL_KEYS}
    settings = process_settings(tmp_path)
    address = env.client.service_client.config.target_host
    wenv = worker_env(tmp_path, settings, address, TEMPORAL_NAMESPACE=ns)
    proc = start_worker(tmp_path, wenv, "worker-verify")
    try:
        code = await proc.wait_exit(30)
        assert code is not None, f"worker still running 30s on a bad namespace\n{proc.report()}"
        assert code == 1, proc.report()
        assert "worker.started" not in proc.event_names(), proc.report()
        error = proc.event("worker.failed")["error"]
        names = sorted(k.name for k in ALL_KEYS)
        assert f"namespace {ns!r} lacks search attributes {names}" in error
        commands = [
            f"temporal operator search-attribute create --namespace {ns} --name {k.name} "
            f"--type {SEARCH_ATTRIBUTE_TYPES[k.indexed_value_type.name]}"
            for k in ALL_KEYS
        ]
        assert error.split("; create them: ", 1)[1].split("; ") == commands
    finally:
        proc.kill()

    # The commands it prints are the fix: run them, and the same worker starts.
    for cmd in commands:
        args = shlex.split(cmd)
        done = subprocess.run(
            [_binary("temporal"), *args[1:]],
            env=base_env(tmp_path, TEMPORAL_ADDRESS=address),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    again = start_worker(tmp_path, wenv, "worker-verify-again")
    try:
        await again.wait_event("worker.started", timeout=60)
        await stop_worker(again)
    finally:
        again.kill()


@pytest.mark.timeout(120)
async def test_worker_on_an_unknown_namespace_fails_with_a_log_not_a_traceback(env, tmp_path):
    ns = f"aiflow-absent-{uuid.uuid4().hex[:8]}"
    settings = process_settings(tmp_path)
    address = env.client.service_client.config.target_host
    proc = start_worker(
        tmp_path, worker_env(tmp_path, settings, address, TEMPORAL_NAMESPACE=ns), "worker-absent"
    )
    try:
        code = await proc.wait_exit(30)
        assert code is not None, f"worker still running 30s on a missing namespace\n{proc.report()}"
        assert code == 1, proc.report()
        assert "Traceback" not in proc.stderr(), proc.report()
        assert f"Namespace {ns} is not found" in proc.event("worker.failed")["error"]
    finally:
        proc.kill()


@pytest.mark.timeout(180)
async def test_worker_register_adds_missing_attributes(env, tmp_path):
    ns = await fresh_namespace(env.client, "aiflow-register")
    settings = process_settings(tmp_path)
    address = env.client.service_client.config.target_host
    wenv = worker_env(
        tmp_path, settings, address, TEMPORAL_NAMESPACE=ns, AIFLOW_SEARCH_ATTRIBUTES="register"
    )
    proc = start_worker(tmp_path, wenv, "worker-register")
    try:
        started = await proc.wait_event("worker.started", timeout=60)
        assert started["namespace"] == ns
        registered = proc.event("search_attributes.registered")
        assert registered["names"] == sorted(k.name for k in ALL_KEYS)
        attrs = await custom_attributes(env.client, ns)
        assert {k.name: attrs.get(k.name) for k in ALL_KEYS} == {
            k.name: int(k.indexed_value_type) for k in ALL_KEYS
        }
        await stop_worker(proc)
    finally:
        proc.kill()


# --- 3. the aiflow command ---------------------------------------------------------------


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def aiflow(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        aiflow_bin(),
        *args,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"`aiflow {shlex.join(args)}` did not finish in {timeout:.0f}s")
    return Ran(proc.returncode, out.decode(), err.decode())


def offline_env(tmp_path: Path) -> dict[str, str]:
    """For commands that must fail before connecting: nothing listens on port 1."""
    return base_env(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:1", AIFLOW_STATE_DIR=str(tmp_path))


async def test_cli_usage_and_unknown_command(tmp_path):
    env = offline_env(tmp_path)
    help_, bare, nope = await asyncio.gather(
        aiflow("--help", env=env, cwd=tmp_path),
        aiflow(env=env, cwd=tmp_path),
        aiflow("nope", env=env, cwd=tmp_path),
    )
    assert help_.code == 0, help_
    assert help_.out.startswith("usage: aiflow <command>")
    listed = [line.split()[0] for line in help_.out.splitlines() if line.startswith("  ")]
    assert listed == COMMANDS
    assert bare.code == 2, bare
    assert "usage: aiflow <command>" in bare.out + bare.err
    assert nope.code == 2, nope
    assert nope.err.startswith("aiflow: unknown command 'nope'"), nope


async def test_cli_every_subcommand_has_help(tmp_path):
    env = offline_env(tmp_path)
    runs = await asyncio.gather(*(aiflow(c, "--help", env=env, cwd=tmp_path) for c in COMMANDS))
    for command, ran in zip(COMMANDS, runs, strict=True):
        assert ran.code == 0, (command, ran)
        assert ran.out.startswith(f"usage: aiflow {command}"), (command, ran.out[:200])
        assert ran.err == "", (command, ran.err)


async def test_cli_review_requires_a_reviewer(tmp_path):
    ran = await aiflow("review", "approve", "T-x", env=offline_env(tmp_path), cwd=tmp_path)
    assert ran.code == 2, ran
    assert "the following arguments are required: --reviewer" in ran.err


async def test_cli_review_and_status_of_an_unknown_ticket_exit_1(env, tmp_path):
    cli_env = base_env(
        tmp_path,
        TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
        AIFLOW_STATE_DIR=str(tmp_path),
    )
    review, status = await asyncio.gather(
        aiflow("review", "approve", "NO-SUCH", "--reviewer", "a", env=cli_env, cwd=tmp_path),
        aiflow("status", "NO-SUCH", env=cli_env, cwd=tmp_path),
    )
    assert review.code == 1, review
    assert review.err.startswith("aiflow review: ticket-NO-SUCH: "), review
    assert "Traceback" not in review.err
    assert review.out == ""
    assert status.code == 1, status
    assert status.err.startswith("aiflow status: ticket-NO-SUCH: "), status
    assert "Traceback" not in status.err
    assert status.out == ""


# --- 4. aiflow dev -----------------------------------------------------------------------


async def start_dev(tmp_path: Path, env: dict[str, str], name: str) -> tuple[Proc, int]:
    """`aiflow dev` up: its Web UI line printed and its worker started; returns the
    process and the pid of the dev server it started."""
    proc = Proc(name, [aiflow_bin(), "dev"], env, tmp_path, tmp_path / "logs")
    try:
        await proc.wait_for("'Web UI' line on stdout", lambda: "Web UI" in proc.stdout(), 60)
        await proc.wait_event("worker.started", timeout=60)
        pidfile = Path(env["AIFLOW_STATE_DIR"]) / "temporal-dev.pid"
        assert pidfile.exists(), f"no {pidfile}\n{proc.report()}"
        server_pid = int(pidfile.read_text())
    except BaseException:
        proc.kill()
        raise
    assert server_pid != proc.pid and pid_alive(server_pid)
    return proc, server_pid


async def assert_dev_stopped(proc: Proc, server_pid: int, ports: list[int], state: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        proc.popen.poll() is None or pid_alive(server_pid) or any(map(port_open, ports))
    ):
        await asyncio.sleep(0.1)
    assert proc.popen.poll() is not None, f"`aiflow dev` alive 30s after SIGINT\n{proc.report()}"
    assert not pid_alive(server_pid), f"dev server {server_pid} outlived `aiflow dev`"
    assert [p for p in ports if port_open(p)] == [], "ports still open after `aiflow dev` ended"
    assert not (state / "temporal-dev.pid").exists(), "stale pid file left for `aiflow dev stop`"
    assert_clean_exit(proc, proc.popen.poll())


async def http_ok(url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with await asyncio.to_thread(urllib.request.urlopen, url, timeout=5) as resp:
                return resp.status
        except OSError as err:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} not answering after {timeout:.0f}s: {err}")
            await asyncio.sleep(0.3)


@pytest.mark.timeout(300)
async def test_aiflow_dev_runs_the_stack_stops_on_ctrl_c_and_keeps_runs(tmp_path):
    port, ui_port = free_ports(2)
    state = tmp_path / "state"
    db_url = f"sqlite:///{tmp_path / 'a.db'}"
    env = base_env(
        tmp_path,
        AIFLOW_DEV_PORT=str(port),
        AIFLOW_DEV_UI_PORT=str(ui_port),
        AIFLOW_STATE_DIR=str(state),
        TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        DATABASE_URL=db_url,
        AIFLOW_LOG_FORMAT="json",
        AIFLOW_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
    )
    settings = Settings(_env_file=None, state_dir=state, database_url=db_url)
    procs: list[Proc] = []
    servers: list[int] = []
    try:
        dev, server_pid = await start_dev(tmp_path, env, "dev-1")
        procs.append(dev)
        servers.append(server_pid)
        assert f"Web UI http://127.0.0.1:{ui_port}" in dev.stdout()
        assert await http_ok(f"http://127.0.0.1:{ui_port}/", timeout=30) == 200
        assert (state / "temporal.db").is_file()

        client = await Client.connect(
            f"127.0.0.1:{port}", namespace="default", data_converter=pydantic_data_converter
        )
        raw = ticket(customer_tier="vip")
        handle = await start_ticket(client, settings, raw)
        try:
            state_before = await asyncio.wait_for(wait_settled(handle), timeout=60)
        except TimeoutError:
            pytest.fail(f"the vip ticket did not reach review in 60s\n{dev.report()}")
        assert isinstance(state_before, RunState), state_before
        assert (state_before.stage, state_before.needs_review) == (Stage.REVIEW, True)

        # Ctrl-C in a terminal: SIGINT to the whole foreground group (aiflow + server).
        os.killpg(dev.pid, signal.SIGINT)
        await assert_dev_stopped(dev, server_pid, [port, ui_port], state)

        dev2, server_pid2 = await start_dev(tmp_path, env, "dev-2")
        procs.append(dev2)
        servers.append(server_pid2)
        status = await aiflow("status", raw["ticket_id"], env=env, cwd=tmp_path)
        assert status.code == 0, status
        shown = json.loads(status.out)
        assert (shown["stage"], shown["needs_review"]) == ("review", True), shown
        assert shown["review_reasons"] == ["rule:vip-enterprise"]
        described = await client.get_workflow_handle(workflow_id_for(raw["ticket_id"])).describe()
        assert described.run_id == handle.first_execution_run_id

        # `kill -INT <pid>`: only aiflow gets the signal and must stop the server itself.
        dev2.popen.send_signal(signal.SIGINT)
        await assert_dev_stopped(dev2, server_pid2, [port, ui_port], state)
    finally:
        for p in procs:
            p.kill()
        for pid in servers:  # started by our child; in its group, but make sure
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(180)
async def test_aiflow_dev_ignores_a_developers_own_temporal_profile(tmp_path):
    """`aiflow dev` runs the local stack even when the shell points Temporal elsewhere
    (a Cloud profile: another address and namespace, TLS, an API key)."""
    port, ui_port = free_ports(2)
    state = tmp_path / "state"
    profile = tmp_path / "temporal.toml"
    profile.write_text(
        '[profile.default]\naddress = "127.0.0.1:1"\nnamespace = "someone.acct"\n'
        'api_key = "not-a-key"\n[profile.default.tls]\n'
    )
    env = base_env(
        tmp_path,
        TEMPORAL_CONFIG_FILE=str(profile),
        AIFLOW_DEV_PORT=str(port),
        AIFLOW_DEV_UI_PORT=str(ui_port),
        AIFLOW_STATE_DIR=str(state),
        DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}",
        AIFLOW_LOG_FORMAT="json",
        AIFLOW_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
    )
    dev = None
    try:
        dev, server_pid = await start_dev(tmp_path, env, "dev-profile")
        assert dev.event("worker.started")["namespace"] == "default"
        dev.popen.send_signal(signal.SIGINT)
        await assert_dev_stopped(dev, server_pid, [port, ui_port], state)
    finally:
        if dev is not None:
            dev.kill()


async def test_the_other_workflows_demos_run_as_the_installed_command(env, tmp_path):
    """`make demo-documents` / `demo-content` run `aiflow demo --workflow NAME` from the
    console script, whose path does not hold the repository: the demo inputs must come
    from the installed packages."""
    settings = process_settings(tmp_path)
    address = env.client.service_client.config.target_host
    ran = await asyncio.gather(
        *(
            aiflow(
                "demo",
                "--workflow",
                name,
                env=worker_env(tmp_path / name, settings, address),
                cwd=tmp_path,
                timeout=120,
            )
            for name in ("documents", "content")
        )
    )
    for name, r in zip(("documents", "content"), ran, strict=True):
        assert (r.code, "Traceback" in r.err) == (0, False), (name, r.err[-2000:])
    assert "documents 30: awaiting review 6, extracted 21, rejected 3" in ran[0].out
    assert "content 21: awaiting review 8, published 13" in ran[1].out
