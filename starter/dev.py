"""The local stack in one command: Temporal dev server (with Web UI) + an aiflow worker.

aiflow dev          # foreground; Ctrl-C stops both
aiflow dev stop     # stop a dev server left running by `aiflow demo`

The server listens on AIFLOW_DEV_IP:AIFLOW_DEV_PORT (127.0.0.1:7233), where every other
command connects unless TEMPORAL_ADDRESS or a Temporal profile names another server.
Exit codes (starter/terminal.py): 0 stopped cleanly; 1 the worker could not start;
2 usage or invalid settings; 4 the dev server could not start or be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from deployment import configure_logging
from settings import Settings
from starter import devserver
from starter.terminal import EXIT_INVALID, CliParser, error, load_settings, run_main
from worker import SearchAttributesMissing, run_workers

PROG = "aiflow dev"


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "action", nargs="?", choices=["run", "stop"], default="run", help="run (default) or stop"
    )
    return p


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = None
    if not devserver.port_open(settings.dev_ip, settings.dev_port):
        server = devserver.start(settings, detach=False)
    print(
        f"Temporal dev server on {settings.dev_ip}:{settings.dev_port}, "
        f"Web UI {devserver.ui_url(settings)}; worker starting. Ctrl-C stops "
        f"{'both' if server else 'the worker (the server was already running)'}.",
        flush=True,
    )
    try:
        await run_workers(settings, await devserver.connect_when_ready(settings), stop)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
            devserver.stop(settings)


async def amain(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    if args.action == "stop":
        stopped = devserver.stop(settings)
        print("dev server stopped" if stopped else "no dev server started by aiflow is running")
        return 0
    configure_logging(settings)
    try:
        await _run(settings)
    except SearchAttributesMissing as err:
        error(PROG, str(err))
        return EXIT_INVALID
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
