"""The throughput benchmark runs end to end (a smoke run: figures live in `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys

from settings import ROOT


def test_bench_smoke_run_completes_every_call():
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
    # never exceeds the 50 worker slots is an invariant.
    assert 1 <= report["peak_in_flight"] <= report["worker_slots"] == 50
    # Group commit is the default: never less than one answer per transaction.
    assert report["response_log"] == "sqlite, group commit (aiflow's default)"
    assert report["response_log_rows_per_commit"] >= 1.0
    assert set(report["cpu_ms_per_call"]) == {
        "model worker process",
        "driver process",
        "dev server",
        "all",
    }
