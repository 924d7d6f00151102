"""The local stack in one command: Temporal dev server (with Web UI) + an aiflow worker.

aiflow dev          # foreground; Ctrl-C stops both
aiflow dev stop     # stop a dev server left running by `aiflow demo`
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from temporalio.service import RPCError

from deployment import configure_logging
from settings import Settings
from starter import devserver
from worker import run_workers


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiflow dev", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    if args.action == "stop":
        stopped = devserver.stop(settings)
        print("dev server stopped" if stopped else "no dev server started by aiflow is running")
        return 0
    configure_logging(settings)
    try:
        asyncio.run(_run(settings))
    except (devserver.DevServerError, RuntimeError, RPCError) as err:
        print(f"aiflow dev: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
