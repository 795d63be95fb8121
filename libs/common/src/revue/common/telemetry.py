"""OpenTelemetry tracing for a service process.

One `TracerProvider` per process, carrying the service's resource
(`service.name`, `service.version`, `service.namespace=revue`) and a
parent-based ratio sampler, so a trace started upstream is never cut in half
downstream. Spans are exported over OTLP/HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, and kept in-process otherwise.
"""

from __future__ import annotations

import os
import socket

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from revue.common.settings import ServiceSettings

SERVICE_NAMESPACE = "revue"


def build_resource(settings: ServiceSettings) -> Resource:
    return Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": settings.service_version,
            "service.namespace": SERVICE_NAMESPACE,
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        }
    )


def setup_tracing(settings: ServiceSettings, *, set_global: bool = True) -> TracerProvider:
    """Build the process's tracer provider, exporting when an endpoint is set.

    `set_global=False` keeps the provider private, for tests that build
    several services in one process.
    """
    provider = TracerProvider(
        resource=build_resource(settings),
        sampler=ParentBased(TraceIdRatioBased(settings.otel_traces_sampler_arg)),
    )
    if settings.otel_exporter_otlp_endpoint:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def inject_trace(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers carrying the current trace (W3C traceparent), for raw nats-py publishes."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_trace(headers: dict[str, str] | None) -> Context:
    """The remote trace context a message arrived with (empty when none)."""
    return propagate.extract(headers or {})
