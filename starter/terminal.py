"""What the `aiflow` commands write to a terminal: untrusted text escaped, user errors as
one line on stderr, and a quiet end when stdout is a closed pipe (`| head`)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

SHOWN_CHARS = 80  # of an untrusted value: enough to recognise it, never a screenful

# Exit codes of `aiflow submit` and `aiflow retry` (2 is CliError's).
EXIT_INVALID = 1  # some ticket was not started / not rerun
EXIT_FAILED_BEFORE = 3  # some earlier run failed: `aiflow retry` it
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as a shell shows a writer killed by a closed pipe


class CliError(Exception):
    """A user error of a command (bad file, server unreachable): one line, exit 2."""

    code = 2


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


def run_main(amain: Callable[[list[str] | None], Awaitable[int]], argv: list[str] | None) -> int:
    """A command's `main`: run its `amain`, and end quietly when stdout is a closed pipe."""
    try:
        return asyncio.run(amain(argv))
    except BrokenPipeError:
        return stdout_closed()


def stdout_closed() -> int:
    """After a BrokenPipeError: silence the flush at exit too, and end quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE
