"""The answer cache from a shell: what it holds, one entry, evicting one, its figures.

aiflow cache list [--step classify|draft] [--all]   # servable entries (--all: evicted too)
aiflow cache show KEY                                # KEY: the first 8+ hex of a key
aiflow cache evict KEY [--reason TEXT]               # never served again
aiflow cache stats                                   # entries and hits by step and trust

Entries hold no customer data: the question and answer are templates with slots
({{name}}, {{order}}) that each run fills from its own item.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from activities.answer_cache import AnswerCache, CacheRow
from activities.store import Store
from settings import Settings
from starter.items import printable
from starter.tables import table
from starter.terminal import CliParser, load_settings, run_main

PROG = "aiflow cache"
MIN_PREFIX = 8
PREVIEW = 60


def parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="the entries, most used first")
    ls.add_argument("--step", help="only this model step's entries")
    ls.add_argument("--all", action="store_true", help="also entries not (or no longer) served")
    show = sub.add_parser("show", help="one entry, whole")
    show.add_argument("key")
    evict = sub.add_parser("evict", help="stop serving an entry")
    evict.add_argument("key")
    evict.add_argument("--reason", default="evicted by operator")
    sub.add_parser("stats", help="entries and hits by step and trust")
    return p


def _when(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _status(r: CacheRow) -> str:
    if r.evicted_at is not None:
        return "evicted"
    return "served" if r.trusted else f"pending {r.agreement}"


def render_list(rows: list[CacheRow]) -> str:
    return table(
        ("KEY", "STEP", "STATUS", "APPROVED BY", "HITS", "LAST HIT", "QUESTION"),
        [
            (
                r.key[:12],
                r.step,
                _status(r),
                r.approved_by,
                str(r.hit_count),
                _when(r.last_hit_at),
                printable(r.text)[:PREVIEW],
            )
            for r in rows
        ],
    )


def render_entry(r: CacheRow) -> str:
    fields = {
        "key": r.key,
        "step": r.step,
        "status": _status(r),
        "trust": r.trust,
        "approved_by": r.approved_by,
        "confidence": r.confidence,
        "agreement": r.agreement,
        "source_workflow_id": r.source_workflow_id,
        "hits": r.hit_count,
        "last_hit_at": _when(r.last_hit_at),
        "created_at": _when(r.created_at),
        "expires_at": _when(r.expires_at),
        "evict_reason": r.evict_reason,
        "embedder": r.embedder,
        "question": r.text,
    }
    lines = [f"{k}: {printable(str(v)) if v is not None else '-'}" for k, v in fields.items()]
    lines.append("answer:")
    lines.append(json.dumps(r.output, ensure_ascii=False, indent=2))
    return "\n".join(lines)


def render_stats(stats: dict) -> str:
    rows = [
        (step, trust, "served" if trusted else "not served", str(n), str(hits))
        for (step, trust, trusted), (n, hits) in sorted(stats.items())
    ]
    return table(("STEP", "TRUST", "STATUS", "ENTRIES", "HITS"), rows)


def one(cache: AnswerCache, key: str) -> CacheRow | str:
    """The entry a key prefix names, or the one line saying why there is none."""
    if len(key) < MIN_PREFIX:
        return f"aiflow cache: give at least {MIN_PREFIX} characters of the key"
    found = cache.get(key.lower())
    if not found:
        return f"aiflow cache: no entry {key!r}"
    if len(found) > 1:
        return f"aiflow cache: {key!r} names {len(found)} entries; give more of the key"
    return found[0]


def run(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.store_url)
    try:
        cache = AnswerCache(store)
        cache.create_schema()
        if args.action == "list":
            rows = cache.rows(args.step, include_untrusted=args.all)
            print(render_list(rows) if rows else "no cache entries")
            return 0
        if args.action == "stats":
            stats = cache.stats()
            print(render_stats(stats) if stats else "no cache entries")
            return 0
        entry = one(cache, args.key)
        if isinstance(entry, str):
            print(entry, file=sys.stderr)
            return 1
        if args.action == "show":
            print(render_entry(entry))
            return 0
        if not cache.evict(entry.key, args.reason):
            print(f"aiflow cache: {entry.key[:12]} was already evicted", file=sys.stderr)
            return 1
        print(f"{entry.key[:12]}: evicted ({args.reason})")
        return 0
    finally:
        store.close()


async def amain(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    return await asyncio.to_thread(run, args, settings or load_settings())


def main(argv: list[str] | None = None) -> int:
    return run_main(amain, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
