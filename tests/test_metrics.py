"""Prometheus metrics scraped from a real `worker.py` process after real runs: Temporal's
SDK metrics and aiflow's own (runs, model calls, tokens, cost, step latency, reviews,
latency budgets), and every series the Grafana dashboard queries exists."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

import pytest

from contracts import Outcome
from starter.submit import wait_settled
from tests.conftest import ROOT
from tests.test_processes import (
    free_ports,
    process_settings,
    start_ticket,
    start_worker,
    stop_worker,
    worker_env,
)
from tests.test_triage_workflow import ticket

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"] or ""))
            out.append((m["name"], labels, float(m["value"])))
    return out


def value(samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(v for n, lab, v in samples if n == name and labels.items() <= lab.items())


async def test_worker_serves_sdk_and_aiflow_metrics_after_runs(env, tmp_path):
    settings = process_settings(tmp_path)
    [port] = free_ports(1)
    address = env.client.service_client.config.target_host
    wenv = worker_env(
        tmp_path,
        settings,
        address,
        AIFLOW_METRICS_ADDRESS=f"127.0.0.1:{port}",
        AIFLOW_METRICS_POLL_SECONDS="0.5",
        AIFLOW_STEP_LATENCY_BUDGETS_MS='{"classify": 0.001, "run": 60000}',
    )
    proc = start_worker(tmp_path, wenv)
    try:
        await proc.wait_event("worker.started", timeout=60)
        served = proc.event("metrics.serving")
        assert served["url"] == f"http://127.0.0.1:{port}/metrics"
        resolved = await start_ticket(env.client, settings, ticket())
        reviewed = await start_ticket(env.client, settings, ticket(customer_tier="vip"))
        rejected = await start_ticket(env.client, settings, ticket(customer_email="nope"))
        try:
            result = await asyncio.wait_for(resolved.result(), timeout=60)
            bad = await asyncio.wait_for(rejected.result(), timeout=60)
            state = await asyncio.wait_for(wait_settled(reviewed, poll=0.2), timeout=60)
        except TimeoutError:
            pytest.fail(f"runs did not settle in 60 s\n{proc.report()}")
        assert (result.outcome, bad.outcome) == (Outcome.RESOLVED, Outcome.REJECTED)
        await asyncio.sleep(1.5)  # metrics export + one gauge sampling round
        samples = await asyncio.to_thread(scrape, port)
        await stop_worker(proc)
    finally:
        proc.kill()

    names = {n for n, _, _ in samples}
    # Temporal's own SDK metrics, served from the same endpoint
    assert "temporal_workflow_completed" in names
    assert "temporal_activity_execution_latency_bucket" in names
    # aiflow's: exactly what the three runs did
    assert value(samples, "aiflow_runs", outcome="resolved", route="general") == 1
    assert value(samples, "aiflow_runs", outcome="rejected") == 1
    assert value(samples, "aiflow_rejections", reason="invalid_email") == 1
    model_steps = [s for s in [*result.steps, *state.steps] if s.kind == "model"]
    assert value(samples, "aiflow_model_calls", outcome="ok") == len(model_steps) == 4
    for direction, field in (("input", "input_tokens"), ("output", "output_tokens")):
        expected = sum(getattr(s, field) for s in model_steps)
        assert value(samples, "aiflow_model_tokens", direction=direction) == expected
    cost = sum(s.cost_usd for s in model_steps)
    assert value(samples, "aiflow_model_cost_usd_sum") == pytest.approx(cost, abs=1e-12)
    assert value(samples, "aiflow_model_cost_usd_count") == 4
    # a 0.001 ms classify budget: both classify steps breach it, and say so on the record
    assert value(samples, "aiflow_latency_budget_breaches", step="classify") == 2
    classify = next(s for s in result.steps if s.step == "classify")
    assert classify.details["latency_budget_ms"] == 0.001
    assert classify.details["over_budget"] is True
    assert value(samples, "aiflow_step_latency_ms_count", step="intake") == 3
    assert value(samples, "aiflow_reviews_opened", reason="rule") == 1
    # sampled from the store by the worker
    assert value(samples, "aiflow_review_queue_depth") == 1
    assert value(samples, "aiflow_review_queue_overdue") == 0


def dashboard_series() -> set[str]:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/aiflow.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    words = {w for e in exprs for w in re.findall(r"\b(?:aiflow|temporal)_[a-z_]+", e)}
    return words


def test_dashboard_queries_only_series_the_worker_exports():
    """Every aiflow series the dashboard queries is declared by the code that emits it."""
    code = "\n".join(
        (ROOT / p).read_text() for p in ("workflows/metrics.py", "activities/telemetry.py")
    )
    declared = set(re.findall(r'"(aiflow_[a-z_]+)"', code))
    for series in sorted(s for s in dashboard_series() if s.startswith("aiflow_")):
        base = re.sub(r"_(bucket|sum|count)$", "", series)
        assert base in declared, series
