"""Show the shared circuit breakers, or close one by hand.

aiflow breakers                    # key, state, failures, opened at, retry at
aiflow breakers reset openai/gpt-4o-mini
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from activities.breaker import BreakerState, CircuitBreakers
from activities.store import make_engine
from settings import Settings
from starter.tables import table
from starter.terminal import CliParser, load_settings, run_main
from worker import breaker_policy

PROG = "aiflow breakers"
COLUMNS = ("KEY", "STATE", "FAILURES", "OPENED AT", "RETRY AT")


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action")
    reset = sub.add_parser("reset", help="close one breaker (the provider is back)")
    reset.add_argument("key", help="provider/model, as the table shows it")
    return p


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def render(states: list[BreakerState]) -> str:
    """A fixed-width table, one breaker per line, sorted by key."""
    return table(
        COLUMNS,
        [(s.key, s.state, str(s.failures), _when(s.opened_at), _when(s.retry_at)) for s in states],
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.store_url)
    try:
        breakers = CircuitBreakers(engine, breaker_policy(settings))
        breakers.create_schema()
        if args.action == "reset":
            if not breakers.reset(args.key):
                print(f"aiflow breakers: no breaker {args.key!r}", file=sys.stderr)
                return 1
            print(f"{args.key}: closed")
            return 0
        states = breakers.snapshot()
        print(render(states) if states else "no breakers yet")
        return 0
    finally:
        engine.dispose()


async def amain(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    return await asyncio.to_thread(run, args, settings or load_settings())


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
