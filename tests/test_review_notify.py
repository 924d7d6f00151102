"""Escalation notices through a real HTTP webhook (a local server): delivered once the
receiver answers 2xx, retried under the notice policy, never fatal to the run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import SecretStr

from activities.store import Store
from contracts import Outcome
from tests.conftest import running_worker
from tests.test_review_workflow import VIP
from tests.test_triage_workflow import start, ticket


class Receiver:
    """A webhook endpoint answering the scripted statuses in order, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((self.headers["Idempotency-Key"], body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def quick(settings, url: str):
    return settings.model_copy(
        update={
            "review_sla_seconds": 3600.0,
            "search_attributes": "off",
            "notify_webhook_url": SecretStr(url),
        }
    )


async def test_escalation_notice_is_retried_until_the_webhook_takes_it(ts_env, settings):
    receiver = Receiver([503])
    s = quick(settings, receiver.url)
    try:
        async with running_worker(ts_env.client, s):
            handle = await start(ts_env.client, s, ticket(**VIP))
            result = await handle.result()
    finally:
        receiver.close()
    assert result.outcome == Outcome.ESCALATED
    key = f"{handle.id}:escalated:{result.steps[-2].details['review_id']}"
    assert [k for k, _ in receiver.requests] == [key, key]  # the 503, then the retry
    body = receiver.requests[-1][1]
    assert (body["kind"], body["workflow_id"], body["key"]) == ("review_escalated", handle.id, key)
    assert body["text"].startswith(f"Review of ticket {result.ticket_id} escalated by aiflow")
    store = Store(s.store_url)
    [row] = store.notifications(handle.id)
    store.close()
    assert (row.key, row.delivered_to) == (key, "webhook")


async def test_a_dead_webhook_does_not_fail_the_run(ts_env, settings):
    receiver = Receiver([500] * 10)
    s = quick(settings, receiver.url)
    try:
        async with running_worker(ts_env.client, s):
            handle = await start(ts_env.client, s, ticket(**VIP))
            result = await handle.result()
    finally:
        receiver.close()
    assert (result.outcome, result.route) == (Outcome.ESCALATED, "escalations")
    assert len(receiver.requests) == 4  # NOTIFY_LOCAL_ACTIVITY's maximum_attempts
    store = Store(s.store_url)
    [row] = store.notifications(handle.id)
    store.close()
    assert row.delivered_to == "webhook_pending"
