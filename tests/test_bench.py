"""The throughput benchmark runs end to end (a smoke run: figures live in `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from settings import ROOT


@pytest.mark.parametrize(
    ("extra", "slots", "model"),
    [
        ([], 60, "remote: offline answers memoised per ticket, latency only"),
        (
            ["--batch", "10", "--model", "offline"],
            6,
            "offline: kNN on every call, in the worker's event loop",
        ),
        (
            ["--batch", "10", "--model", "http"],
            6,
            "http: the openai client over HTTP to a local OpenAI-compatible server",
        ),
    ],
)
def test_bench_smoke_run_completes_every_call(extra, slots, model):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.model_throughput",
            "--calls",
            "50",
            "--concurrency",
            "50",
            "--latency-ms",
            "200",
            "--json",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert (report["ok"], report["calls"]) == (50, 50)
    # How close the peak gets to 50 is a timing figure (make bench reports it); that it
    # never exceeds the 50 call permits is an invariant, though the worker has 20 % more
    # slots (activities whose calls wait for a permit).
    assert 1 <= report["peak_in_flight"] <= report["call_permits"] == 50
    assert (report["worker_slots"], report["model"]) == (slots, model)
    # Group commit is the default: never less than one answer per transaction.
    assert report["response_log"] == "sqlite, group commit (aiflow's default)"
    assert report["response_log_rows_per_commit"] >= 1.0
    remote_server = {"model server process"} if "http" in extra else set()
    assert set(report["cpu_ms_per_call"]) == {
        "model worker process",
        "driver process",
        "dev server",
        "all",
        *remote_server,
    }
