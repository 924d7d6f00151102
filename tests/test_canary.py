"""Issue 14's check: a canary API key and a canary card number put into tickets appear
nowhere in clear text, on an encrypted deployment: not in `temporal workflow show -o json`
of any run, not in the worker's logs, not in a dump of the store (SQLite and PostgreSQL),
not in the review page's HTML (there the card shows masked, as "[card ending 1111]")."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import pytest
from temporalio.client import Client

from activities.store import Store
from protection.codec import data_converter
from protection.keys import new_key
from protection.sealed import protection_for
from starter.review_web import create_app
from starter.submit import wait_settled
from tests.conftest import _binary, make_settings, running_worker
from tests.test_review_web import TOKENS, logged_in
from tests.test_store_protection import raw_dump
from tests.test_triage_workflow import start, ticket, wait_for_review

CARD = "4111 1111 1111 1111"
API_KEY = "sk-canaryK3y0123456789abcdefXYZ"
CANARIES = (CARD, CARD.replace(" ", ""), "4111-1111", API_KEY, API_KEY.removeprefix("sk-"))
BODY = f"My card {CARD} was charged twice on invoice INV-77. Our API key is {API_KEY}, in case."


def clear_text_in(text: str) -> list[str]:
    """The canaries found in `text`, read as is and with every base64 string decoded."""
    views = [text]
    for chunk in re.findall(r'"([A-Za-z0-9+/=_-]{16,})"', text):
        try:
            views.append(base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("latin-1"))
        except ValueError:
            continue
    return sorted({c for c in CANARIES for v in views if c in v})


async def temporal_show(env, workflow_id: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        _binary("temporal"),
        *("workflow", "show", "--workflow-id", workflow_id, "--output", "json"),
        *("--address", env.client.service_client.config.target_host),
        *("--namespace", env.client.namespace),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aiflow.db'}"
    return request.getfixturevalue("fresh_pg_url")


async def test_no_canary_in_history_logs_store_or_review_page(env, tmp_path, store_url, quiet_logs):
    settings = make_settings(
        tmp_path,
        database_url=store_url,
        payload_keys=json.dumps({"k1": new_key()}),
        review_tokens=TOKENS,
    )
    client = Client(**{**env.client.config(), "data_converter": data_converter(settings)})
    resolved = ticket(body=BODY)  # QA rejects the draft quoting the card, then resolves
    waiting = ticket(body=BODY, customer_tier="vip")  # waits for a reviewer
    async with running_worker(client, settings):
        done = await start(client, settings, resolved)
        held = await start(client, settings, waiting)
        result = await done.result()
        await wait_for_review(held)
        app = create_app(client, settings)
        async with logged_in(app) as http:
            page = (await http.get(f"/review/{waiting['ticket_id']}")).text
        await held.terminate("test over")
    assert [s.outcome for s in result.steps if s.step == "qa"] == ["fail", "pass"]
    assert isinstance(await wait_settled(done), type(result))

    histories = [await temporal_show(env, h.id) for h in (done, held)]
    assert [clear_text_in(h) for h in histories] == [[], []]
    assert all(len(h) > 10_000 for h in histories)  # real histories, not empty answers

    logs = quiet_logs.getvalue()
    assert "model.call" in logs
    assert clear_text_in(logs) == []

    store = Store(settings.store_url, protection=protection_for(settings))
    try:
        dump = raw_dump(store)
        assert done.id in dump  # the rows are there
        assert clear_text_in(dump) == []
        # read back (the waiting run's review row): the card masked, the rest kept
        [review] = [r for r in store.pending_reviews() if r.workflow_id == held.id]
        assert review.ticket.body == (
            "My card [card ending 1111] was charged twice on invoice INV-77. "
            "Our API key is [secret], in case."
        )
    finally:
        store.close()

    assert "[card ending 1111]" in page and "[secret]" in page
    assert clear_text_in(page) == []
