"""`aiflow`: the one command for everything users do from a shell.

Every command ends with an exit code of the table in starter/terminal.py. A user error
is one line on stderr; a bug is one line naming the file its traceback went to."""

from __future__ import annotations

import gc
import importlib
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

COMMANDS = {
    "demo": ("starter.demo", "triage the bundled tickets on the embedded stack"),
    "dev": ("starter.dev", "run the Temporal dev server + a worker (or `dev stop`)"),
    "worker": ("worker", "run a worker against the configured Temporal cluster"),
    "workflows": ("starter.workflows_cmd", "list the workflows this deployment runs"),
    "run": ("starter.run", "start items of any workflow from files (idempotent by key)"),
    "submit": ("starter.submit", "start triage runs for tickets from a JSON/JSONL file"),
    "retry": ("starter.retry", "run again tickets whose earlier run failed"),
    "status": ("starter.status", "show a run's live state or result"),
    "review": ("starter.review", "list and answer runs waiting for a reviewer"),
    "feedback": ("starter.feedback", "export reviewer corrections: fine-tuning, eval set, rates"),
    "report": ("starter.report", "latency vs budget, cost, calls avoided, reviews, errors"),
    "breakers": ("starter.breakers", "show the shared circuit breakers (or `breakers reset KEY`)"),
    "cache": ("starter.cache_cmd", "the answer cache: list, show, evict entries; stats"),
    "parked": ("starter.parked", "runs waiting for their models: list, retry now, release"),
    "drift": ("starter.drift", "drift checks: schedule them, run one now, show the latest"),
    "erase": ("starter.erase", "erase one customer's data: store rows, runs, histories"),
    "purge": ("starter.purge", "delete rows past their retention (or --schedule it daily)"),
    "codec": ("starter.codec_cmd", "the codec server: decrypt payloads for the Web UI and CLI"),
    "keys": ("starter.codec_cmd:keys_main", "payload encryption keys: `keys new` makes one"),
}


def usage() -> str:
    lines = ["usage: aiflow <command> [options]   (aiflow <command> --help for its options)", ""]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from starter import terminal

    prog = f"aiflow {argv[0]}" if argv and argv[0] in COMMANDS else "aiflow"
    try:
        code = dispatch(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the flush at exit
        return code
    except BrokenPipeError:
        return terminal.stdout_closed()
    except KeyboardInterrupt:
        terminal.error(prog, "interrupted")
        return terminal.EXIT_INTERRUPTED
    except Exception as err:  # the backstop: commands classify their own errors first
        if known := terminal.user_error(err):
            terminal.error(prog, known[0])
            return known[1]
        where = write_traceback(prog, argv, err)
        terminal.error(
            prog,
            f"internal error {type(err).__name__}: {terminal.safe_text(err, 200)} "
            f"(a bug; the traceback is in {where})",
        )
        return terminal.EXIT_BUG
    finally:
        gc.collect()  # free Temporal clients before interpreter shutdown (temporalio exit abort)


def dispatch(argv: list[str]) -> int:
    """Usage, or the named command's `main(rest)` and its exit code."""
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"aiflow: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, _, function = COMMANDS[name][0].partition(":")  # "module" or "module:function"
    return getattr(importlib.import_module(module), function or "main")(rest)


def write_traceback(prog: str, argv: list[str], err: BaseException) -> Path | str:
    """The traceback of a bug, in STATE_DIR/cli-error.log (the temp dir if the settings
    cannot be read), replacing the previous one; the path is printed instead of it."""
    try:
        from settings import Settings

        folder = Settings().state_dir
        folder.mkdir(parents=True, exist_ok=True)
    except Exception:
        folder = Path(tempfile.gettempdir())
    path = folder / "cli-error.log"
    text = "".join(traceback.format_exception(err))
    try:
        path.write_text(f"{datetime.now(UTC).isoformat()} {prog} {argv!r}\n{text}")
    except OSError:  # nowhere to write it: then on stderr, rather than lost
        print(text, file=sys.stderr, end="")
        return "the lines above"
    return path


if __name__ == "__main__":
    sys.exit(main())
