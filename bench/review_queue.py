"""`make bench-review`: how fast the review queue answers with many runs waiting.

Writes N pending reviews (default 1,000, each with a 1.5 KB ticket, as runs persist them)
into a fresh store, SQLite and PostgreSQL (127.0.0.1:5432, when it answers), then times:
  * `aiflow review list` (the store path: one query, SLA order), end to end in-process;
  * the same filtered to one route (`--route legal`);
  * what the review page's queue does for its 500-row page: the query with the requests,
    their validation and the template render.
Each figure is the median of 5 runs. Last line, for scripts:
    review_queue: n=<n> list_s=<s> page_s=<s> store=<sqlite|postgresql>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from activities.review_store import QueueFilter
from activities.store import Store
from contracts import NormalizedTicket, PersistRunInput, ReviewProposal, ReviewRequest, Stage
from settings import Settings
from starter import review as review_cli
from starter.review_web import QUEUE_PAGE, ReviewPage

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROUTES = ["general", "billing", "legal", "priority", "spam-review"]
REASONS = ["low_confidence", "qa_failed", "rule:vip-enterprise", "likely_spam"]
BODY = ("Hello, I was charged twice for my subscription this month and need a refund. " * 20)[:1500]


def review(i: int, now: datetime) -> ReviewRequest:
    tid = f"T-bench-{i:06d}"
    asked = now - timedelta(minutes=i % 600)
    return ReviewRequest(
        review_id=f"rv-{i:012d}",
        version=1,
        workflow_id=f"ticket-{tid}",
        ticket_id=tid,
        queue=ROUTES[i % len(ROUTES)],
        ticket=NormalizedTicket(
            ticket_id=tid,
            subject=f"Charged twice ({i})",
            body=BODY,
            customer_email=f"c{i}@example.com",
            channel="email",
            customer_tier="pro",
        ),
        proposal=ReviewProposal(category="billing", priority="normal", reply="Hello, ..."),
        confidence=0.5,
        reasons=[REASONS[i % len(REASONS)]],
        requested_at=asked,
        sla_deadline=asked + timedelta(hours=24),
    )


def fill(store: Store, n: int) -> None:
    now = datetime.now(UTC)
    for i in range(n):
        r = review(i, now)
        store.save_run(
            PersistRunInput(
                workflow_id=r.workflow_id,
                run_id="r1",
                ticket_id=r.ticket_id,
                stage=Stage.REVIEW,
                steps=[],
                review_reasons=r.reasons,
                review=r,
                review_status="pending",
            )
        )


def median_s(fn, times: int = 5) -> float:
    runs = []
    for _ in range(times):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def cli_list(settings: Settings, *argv: str) -> int:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = asyncio.run(review_cli.amain(["list", "--tickets-only", *argv], settings=settings))
    assert code == 0, code
    return len([line for line in out.getvalue().splitlines() if line.startswith("T-bench-")])


def page_queue(page: ReviewPage) -> int:
    """The queue handler's work without HTTP: query, validate, render."""
    rows = page.store.pending_queue(QueueFilter(limit=QUEUE_PAGE + 1), datetime.now(UTC), full=True)
    pending = [ReviewRequest.model_validate(r.request) for r in rows[:QUEUE_PAGE]]
    html = page.jinja.get_template("queue.html").render(
        now=datetime.now(UTC),
        pending=pending,
        more=len(rows) > QUEUE_PAGE,
        filters={"route": "", "reason": "", "assignee": "", "older": ""},
        bulk_id="d-" + "0" * 32,
        fields=[],
        silent=0,
    )
    return html.count('name="run"')


def measure(url: str, n: int, kind: str) -> tuple[float, float]:
    settings = Settings(_env_file=None, database_url=url, state_dir=Path(tempfile.mkdtemp()))
    store = Store(url)
    store.create_schema()
    began = time.perf_counter()
    fill(store, n)
    print(f"{kind}: wrote {n} pending reviews in {time.perf_counter() - began:.1f} s")
    listed = cli_list(settings)
    legal = cli_list(settings, "--route", "legal")
    assert (listed, legal) == (n, n // len(ROUTES) + (n % len(ROUTES) > 2)), (listed, legal)
    list_s = median_s(lambda: cli_list(settings))
    legal_s = median_s(lambda: cli_list(settings, "--route", "legal"))
    page = ReviewPage(None, settings)  # type: ignore[arg-type]  # the queue needs no client
    shown = page_queue(page)
    assert shown == min(n, QUEUE_PAGE), shown
    page_s = median_s(lambda: page_queue(page))
    print(
        f"{kind}: aiflow review list {list_s:.3f} s ({listed} rows) · --route legal "
        f"{legal_s:.3f} s ({legal} rows) · page queue ({shown} rows) {page_s:.3f} s"
    )
    store.close()
    return list_s, page_s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.review_queue", description=__doc__)
    p.add_argument("--n", type=int, default=1000, help="pending reviews (default 1000)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        results = [("sqlite", *measure(f"sqlite:///{d}/bench.db", args.n, "sqlite"))]
    db = f"bench_review_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{db}"'))
    except Exception as err:  # noqa: BLE001 - no PostgreSQL here: say so, bench SQLite only
        print(f"postgresql: skipped ({str(err).splitlines()[0][:120]})")
    else:
        try:
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
            results.append(("postgresql", *measure(url, args.n, "postgresql")))
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    for kind, list_s, page_s in results:
        print(f"review_queue: n={args.n} list_s={list_s:.3f} page_s={page_s:.3f} store={kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
