"""`aiflow`: the one command for everything users do from a shell."""

from __future__ import annotations

import gc
import importlib
import sys

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
}


def usage() -> str:
    lines = ["usage: aiflow <command> [options]   (aiflow <command> --help for its options)", ""]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return module.main(rest)
    finally:
        gc.collect()  # free Temporal clients before interpreter shutdown (temporalio exit abort)


if __name__ == "__main__":
    sys.exit(main())
