"""Optional OpenTelemetry tracing (off by default): one setting, `AIFLOW_OTEL_ENDPOINT`,
turns it on. Temporal's OpenTelemetry plugin then traces every workflow, activity,
signal, update and query of the process's client and workers, and spans go to an OTLP/HTTP
collector (Jaeger, Tempo, an OpenTelemetry Collector) at ENDPOINT/v1/traces."""

from __future__ import annotations

from typing import Any


class Tracing:
    """The process's tracer provider and the Temporal plugin that feeds it."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import OpenTelemetryPlugin, create_tracer_provider

        # replay-safe: span ids derive from workflow state, and no span repeats on replay
        self.provider = create_tracer_provider(
            resource=Resource.create({"service.name": service_name})
        )
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=10)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(self.provider)
        self.plugin: Any = OpenTelemetryPlugin(add_temporal_spans=True)

    def shutdown(self) -> None:
        """Flush the spans still buffered (at most the exporter's timeout)."""
        self.provider.shutdown()
