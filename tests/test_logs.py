"""Logs: one JSON pipeline for structlog and the standard library, Temporal ids merged into
every event, and secrets and customer text never written — a canary key, body and email
are planted in a real worker process's run and searched for in everything it printed."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest
import structlog
from temporalio import activity, workflow

from activities.logs import REDACTED, configure_logging, redact
from contracts import Outcome
from tests.fakes.llm_server import Fail, FakeLLMServer
from tests.test_processes import (
    process_settings,
    start_ticket,
    start_worker,
    stop_worker,
    worker_env,
)
from tests.test_triage_workflow import ticket


def test_redact_drops_sensitive_keys_and_masks_secret_shapes():
    event = {
        "event": "model.call.failed: Bearer abcdefgh12345678 sk-live0123456789",
        "prompt": "the whole prompt",
        "headers": {"Authorization": "Bearer x", "x-request-id": "r-1"},
        "note": "see api_key=abc123 and token=zzz",
        "tokens_in": 12,
        "_record": "kept",
    }
    assert redact(None, "info", event) == {
        "event": f"model.call.failed: {REDACTED} {REDACTED}",
        "prompt": REDACTED,
        "headers": {"Authorization": REDACTED, "x-request-id": "r-1"},
        "note": f"see {REDACTED} and {REDACTED}",
        "tokens_in": 12,
        "_record": "kept",
    }


def test_stdlib_and_structlog_share_one_json_pipeline(capsys):
    configure_logging("INFO", "json")
    try:
        structlog.get_logger("aiflow.test").info("thing.done", count=3, body="secret text")
        logging.getLogger("some.library").warning("library said %s", "hello")
        logging.getLogger("some.library").debug("not at INFO")
    finally:
        configure_logging("INFO", "console")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e["level"], e["logger"]) for e in lines] == [
        ("thing.done", "info", "aiflow.test"),
        ("library said hello", "warning", "some.library"),
    ]
    assert (lines[0]["count"], lines[0]["body"]) == (3, REDACTED)
    assert all(e["timestamp"].endswith("Z") for e in lines)
    assert workflow.logger.workflow_info_on_message is False
    assert activity.logger.activity_info_on_message is False


async def test_canary_secrets_never_reach_a_worker_processs_logs(env, tmp_path):
    canary = uuid.uuid4().hex
    key = f"sk-canary{canary}"
    body = f"My order is late. CANARY-BODY-{canary}"
    email = f"canary-{canary}@example.com"
    settings = process_settings(tmp_path)
    with FakeLLMServer() as server:
        # a provider that refuses the key and echoes it back in its error body
        server.script(Fail(401, f"Incorrect API key provided: {key}. Bearer {key}"))
        wenv = worker_env(
            tmp_path,
            settings,
            env.client.service_client.config.target_host,
            OPENAI_API_KEY=key,
            OPENAI_BASE_URL=server.openai_base_url,
            AIFLOW_CLASSIFY_MODEL="small",  # gpt-4o-mini (the fake) → offline
            AIFLOW_NOTIFY_WEBHOOK_URL=f"http://127.0.0.1:9/hook?token={canary}",
            AIFLOW_LOG_LEVEL="INFO",
        )
        proc = start_worker(tmp_path, wenv)
        try:
            await proc.wait_event("worker.started", timeout=60)
            raw = ticket(body=body, customer_email=email)
            handle = await start_ticket(env.client, settings, raw)
            try:
                result = await asyncio.wait_for(handle.result(), timeout=60)
            except TimeoutError:
                pytest.fail(f"no result in 60 s\n{proc.report()}")
            await stop_worker(proc)
        finally:
            proc.kill()
        assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {key}"]
    assert result.outcome == Outcome.RESOLVED
    classify = [(s.model, s.outcome) for s in result.steps if s.step == "classify"]
    assert classify == [("gpt-4o-mini", "error"), ("offline-knn-v1", "ok")]
    everything = proc.stdout() + proc.stderr()
    for planted in (key, canary, body, email):
        assert planted not in everything
    events = proc.events()
    assert len(events) == len([line for line in proc.stderr().splitlines() if line.strip()])
    [failed] = [e for e in events if e["event"] == "model.call.failed"]
    assert (failed["activity_type"], failed["attempt"], failed["workflow_id"]) == (
        "model_call",
        1,
        handle.id,
    )
    assert (failed["error"], failed["model"]) == ("AuthenticationFailed", "gpt-4o-mini")
    calls = {e["step"]: e for e in events if e["event"] == "model.call"}
    classify_step = next(s for s in result.steps if s.step == "classify" and s.outcome == "ok")
    assert sorted(calls) == ["classify", "draft#1"]
    c = calls["classify"]
    assert (c["workflow_id"], c["activity_type"], c["model"], c["level"]) == (
        handle.id,
        "model_call",
        "offline-knn-v1",
        "info",
    )
    assert (c["tokens_in"], c["tokens_out"], c["cost_usd"]) == (
        classify_step.input_tokens,
        classify_step.output_tokens,
        classify_step.cost_usd,
    )


def test_the_default_handler_writes_to_stderr_as_it_is_at_each_event(monkeypatch):
    """A process that swaps sys.stderr (as a test capturing output does) must not log into
    the stream it had when logging was configured, which may be closed by then."""
    import io
    import logging
    import sys

    from activities.logs import configure_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO", "json")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("aiflow.test").info("after the swap")
    assert '"event": "after the swap"' in second.getvalue()
