"""Optional tracing: with AIFLOW_OTEL_ENDPOINT set, a real worker process exports the
spans of a run over OTLP/HTTP (here to a local receiver that decodes the protobuf)."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from contracts import Outcome
from tests.test_processes import (
    process_settings,
    start_ticket,
    start_worker,
    stop_worker,
    worker_env,
)
from tests.test_triage_workflow import ticket


class Collector:
    """Accepts OTLP/HTTP protobuf exports on /v1/traces and keeps the decoded spans."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []  # (service.name, span name)
        self.traces: set[bytes] = set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        collector.spans += [(attrs["service.name"], s.name) for s in ss.spans]
                        collector.traces |= {s.trace_id for s in ss.spans}
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_worker_exports_the_spans_of_a_run(env, tmp_path):
    settings = process_settings(tmp_path)
    collector = Collector()
    wenv = worker_env(
        tmp_path,
        settings,
        env.client.service_client.config.target_host,
        AIFLOW_OTEL_ENDPOINT=collector.url,
        AIFLOW_OTEL_SERVICE_NAME="aiflow-test-worker",
    )
    proc = start_worker(tmp_path, wenv)
    try:
        await proc.wait_event("worker.started", timeout=60)
        assert proc.event("tracing.exporting")["endpoint"] == collector.url
        handle = await start_ticket(env.client, settings, ticket())
        try:
            result = await asyncio.wait_for(handle.result(), timeout=60)
        except TimeoutError:
            pytest.fail(f"no result in 60 s\n{proc.report()}")
        await stop_worker(proc)  # shutdown flushes the batch of spans
    finally:
        proc.kill()
        collector.close()
    assert result.outcome == Outcome.RESOLVED
    names = [name for service, name in collector.spans]
    assert {service for service, _ in collector.spans} == {"aiflow-test-worker"}
    assert names.count("RunWorkflow:TicketTriage") == 1
    assert names.count("RunActivity:model_call") == 2  # classify, draft
    assert names.count("StartActivity:model_call") == 2
    assert len(collector.traces) == 1  # one trace: the run and every activity it scheduled
