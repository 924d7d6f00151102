"""What the `aiflow` commands write to a terminal: untrusted text escaped, user errors as
one line on stderr, progress of long batches, and a quiet end when stdout is a closed
pipe (`| head`).

Exit codes, the same for every command:

  0    done
  1    the command ran, but not all went well: an item not started or not rerun, a run
       not found or ended without a result, a decision not applied, a request Temporal
       refused, a run `--wait` could not follow to its end
  2    usage: a bad flag or argument (`--concurrency 0`), an unreadable or invalid input
       file, invalid settings or Temporal configuration; nothing was done
  3    some earlier run failed (`submit`, `run`: rerun it), or the run refused the
       review decision (`review`)
  4    no server: Temporal unreachable at the address named (and where it came from),
       the embedded dev server could not start, or the store cannot be opened
  70   a bug in aiflow: one line, and the traceback written to STATE_DIR/cli-error.log
  130  interrupted (Ctrl-C)
  141  stdout was closed (`| head`): the command stopped quietly
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TextIO

if TYPE_CHECKING:
    from pydantic import ValidationError

    from settings import Settings

SHOWN_CHARS = 80  # of an untrusted value: enough to recognise it, never a screenful

EXIT_INVALID = 1  # some item was not started / not rerun / not found
EXIT_USAGE = 2  # bad flag, file or setting: nothing was done
EXIT_FAILED_BEFORE = 3  # some earlier run failed: `aiflow retry` it
EXIT_UNREACHABLE = 4  # no Temporal server (or store) where the settings point
EXIT_BUG = 70  # sysexits.h EX_SOFTWARE: an internal error
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as a shell shows a writer killed by a closed pipe


class CliError(Exception):
    """A user error of a command (bad file, bad setting): one line on stderr, exit `code`."""

    code = EXIT_USAGE

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


def safe_text(text: object, limit: int = SHOWN_CHARS) -> str:
    """`text` fit for a terminal: non-printable characters (controls, escapes, tabs, format
    and unassigned characters) shown as `\\x1b`, `\\u200b`, `\\U000e0001`; at most `limit`
    characters of it, then "...". Reads no more of `text` than it shows."""
    text = str(text)
    out: list[str] = []
    for ch in text[:limit]:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out) + ("..." if len(text) > limit else "")


def say(line: str) -> None:
    """One line of a command's report, flushed at once (so a closed pipe is seen here)."""
    print(line, flush=True)


def error(prog: str, message: str) -> None:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


class CliParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`aiflow demo: argument --concurrency:
    ...`), exit 2; its subcommands' parsers are CliParsers too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= `low` (`--concurrency 0` is a usage error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {safe_text(text)!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    return parse


def settings_problem(err: ValidationError) -> str:
    """A pydantic ValidationError of the settings as one line, naming the variable but
    not its value (it may be a secret)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"invalid setting {safe_text(where)}: {first['msg']}"


def load_settings() -> Settings:
    """Settings from the environment and .env; a bad variable is a CliError (exit 2)."""
    from pydantic import ValidationError

    from protection.sealed import install  # the store's protection, for every command
    from settings import Settings

    try:
        return install(Settings())
    except ValidationError as err:
        raise CliError(settings_problem(err)) from None


def user_error(err: BaseException) -> tuple[str, int] | None:
    """`(one line, exit code)` for an error a user can act on, None for a bug. Each command
    classifies its own errors first; this is the boundary's backstop."""
    from pydantic import ValidationError
    from temporalio.service import RPCError, RPCStatusCode

    from deployment import TemporalConfigError, TemporalUnreachable, connected_target
    from protection.codec import PayloadDecodeError
    from protection.keys import KeySettingError

    if isinstance(err, CliError):
        return str(err), err.code
    if isinstance(err, TemporalUnreachable):
        return str(err), EXIT_UNREACHABLE
    if isinstance(err, TemporalConfigError | KeySettingError):
        return str(err), EXIT_USAGE
    if isinstance(err, PayloadDecodeError):
        return f"cannot read a payload: {err}", EXIT_INVALID
    if isinstance(err, ValidationError) and err.title == "Settings":
        return settings_problem(err), EXIT_USAGE
    if isinstance(err, RPCError):
        target = connected_target()
        at = f" at {target.address} ({target.source})" if target else ""
        message = safe_text(err.message, 200)
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return f"cannot reach Temporal{at}: {message}", EXIT_UNREACHABLE
        return f"Temporal{at} refused it: {message}", EXIT_INVALID
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import OperationalError

        if isinstance(err, OperationalError):  # the URL is not shown: it may hold a password
            reason = str(err.orig or err).strip().splitlines()[0]
            return f"cannot open the store: {safe_text(reason, 200)}", EXIT_UNREACHABLE
    if isinstance(err, OSError) and err.filename is not None:
        return f"cannot use {safe_text(err.filename, 200)}: {err.strerror}", EXIT_USAGE
    return None


def run_main(
    amain: Callable[[list[str] | None], Awaitable[int]], argv: list[str] | None, prog: str
) -> int:
    """A command's `main`: run its `amain`; user errors as one line and their exit code;
    a quiet end when stdout is a closed pipe. A bug propagates (`aiflow` reports it)."""
    try:
        code = asyncio.run(amain(argv))
        sys.stdout.flush()  # a closed pipe shows here, not in the flush at exit
        return code
    except BrokenPipeError:
        return stdout_closed()
    except Exception as err:
        known = user_error(err)
        if known is None:
            raise
        error(prog, known[0])
        return known[1]


def stdout_closed() -> int:
    """After a BrokenPipeError: silence the flush at exit too, and end quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE


class Progress:
    """How far a batch is, on stderr: a live bar on a terminal (rich), otherwise a line
    every `every` seconds and one at the end, so a log shows a batch that stalls too."""

    def __init__(
        self, prog: str, what: str, total: int, *, every: float = 10.0, stream: TextIO | None = None
    ):
        self.prog, self.what, self.total, self.every = prog, what, total, every
        self.stream = stream or sys.stderr
        self.done = 0
        self.outcomes: Counter[str] = Counter()
        self._t0 = self._changed = time.monotonic()
        self._done_shown = -1  # `done` at the last line printed
        self._bar = None
        self._ticker: asyncio.Task | None = None

    async def __aenter__(self) -> Progress:
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn(f"{self.prog}: {self.what}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[outcomes]}"),
                console=Console(file=self.stream),
                redirect_stdout=False,  # the report is stdout's; only the bar is on stderr
            )
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total, outcomes="")
        else:
            self._print()
            self._ticker = asyncio.create_task(self._tick())
        return self

    def advance(self, outcome: str) -> None:
        """One more item done, ending in `outcome`."""
        self.done += 1
        self.outcomes[outcome] += 1
        self._changed = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, advance=1, outcomes=self._counts())

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._print()
        if self._bar is not None:
            self._bar.stop()

    def _counts(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))

    def line(self) -> str:
        now = time.monotonic()
        text = f"{self.prog}: {self.done}/{self.total} {self.what} done in {now - self._t0:.0f}s"
        if self.outcomes:
            text += f" ({self._counts()})"
        if self.done == self._done_shown and self.done < self.total:
            text += f"; none finished in the last {now - self._changed:.0f}s"
        return text

    def _print(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._done_shown = self.done

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self._print()
