"""OpenTelemetry tracing for a service process.

One `TracerProvider` per process, carrying the service's resource
(`service.name`, `service.version`, `service.namespace=revue`) and a
parent-based ratio sampler, so a trace started upstream is never cut in half
downstream. Spans are exported over OTLP/HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set. Until something receives spans (an
exporter, or a processor a test adds), none is recorded: building a span
nobody reads was a measurable share of a cached answer, while its ids, which
the logs and the next hop carry, are made all the same; and the helpers below, for the
messages we handle with nats-py, make no span at all, passing the trace on
as it came.

FastAPI traces its own requests and FastStream its own messages; this module
adds the clients (redis, httpx: patched once per process; each SQLAlchemy
engine: hooked one by one) and the spans of messages we publish and consume
with nats-py directly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context, attach, detach, get_current
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine

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


class RecordWhenReceived(Sampler):
    """`inner`'s decision once spans have a receiver; before that, ids and nothing else.

    Unrecorded spans still carry a trace id and span id (logs, propagation),
    flagged unsampled, so the next hop does not record that trace either.
    """

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner
        self.received = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self.received:
            return ALWAYS_OFF.should_sample(parent_context, trace_id, name)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RecordWhenReceived{{{self.inner.get_description()}}}"


class ServiceTracerProvider(TracerProvider):
    """A tracer provider that starts recording when its first span processor arrives."""

    def __init__(self, resource: Resource, sampler: Sampler) -> None:
        self.gate = RecordWhenReceived(sampler)
        super().__init__(resource=resource, sampler=self.gate)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.gate.received = True
        _receivers.add(id(self))


# Providers of this process whose spans someone receives. While there are
# none, the helpers below make no span of their own at all (not even an
# unrecorded one): they pass the trace on as it came, which keeps trace ids
# in logs and on the next hop, for a fraction of the cost (several spans per
# request on the analysis path).
_receivers: set[int] = set()


@contextmanager
def _within(context: Context) -> Iterator[Span]:
    token = attach(context)
    try:
        yield trace.get_current_span()
    finally:
        detach(token)


def setup_tracing(settings: ServiceSettings, *, set_global: bool = True) -> TracerProvider:
    """Build the process's tracer provider, exporting when an endpoint is set.

    `set_global=False` keeps the provider private, for tests that build
    several services in one process.
    """
    provider = ServiceTracerProvider(
        build_resource(settings), ParentBased(TraceIdRatioBased(settings.otel_traces_sampler_arg))
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


def instrument_clients(provider: TracerProvider) -> None:
    """Spans for every redis command and httpx request of this process.

    The instrumentors patch the libraries' classes, so this is for a service
    process (called once), not for tests that hold several services.
    """
    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    """A span for every statement this engine runs (no SQL comments added to it)."""
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    # The instrumentation's connection-usage metric goes nowhere: the pool
    # figures are Prometheus gauges (`db_pool_*`).
    usage = metrics.NoOpMeter("revue").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, engine.sync_engine, usage)


def _messaging_attributes(subject: str, operation: str) -> dict[str, str]:
    return {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.type": operation,
    }


@contextmanager
def send_span(
    tracer: trace.Tracer,
    subject: str,
    *,
    kind: SpanKind = SpanKind.PRODUCER,
    parent: dict[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """A span around a message we send with nats-py; yields the headers that carry it.

    `kind=CLIENT` for a request awaiting its reply. `parent` is the carrier of
    the trace the message belongs to, when that is not the current one (a
    message sent from a group commit on behalf of another request).
    """
    if not _receivers:
        yield dict(parent) if parent is not None else inject_trace()
        return
    context = extract_trace(parent) if parent is not None else None
    with tracer.start_as_current_span(
        f"send {subject}",
        context=context,
        kind=kind,
        attributes=_messaging_attributes(subject, "send"),
    ):
        yield inject_trace()


@contextmanager
def batch_span(
    tracer: trace.Tracer, name: str, carriers: Sequence[dict[str, str]]
) -> Iterator[Span]:
    """One span for work done for many traces at once (a group commit).

    It continues the first item's trace and links the others', so each trace
    shows the shared work and every item's trace can reach it.
    """
    if not _receivers:
        with _within(extract_trace(carriers[0]) if carriers else get_current()) as span:
            yield span
        return
    contexts = [trace.get_current_span(extract_trace(c)).get_span_context() for c in carriers]
    links = [Link(context) for context in contexts[1:] if context.is_valid]
    with tracer.start_as_current_span(
        name,
        context=extract_trace(carriers[0]) if carriers else None,
        links=links,
        attributes={"revue.batch.size": len(carriers)},
    ) as span:
        yield span


@contextmanager
def consumer_span(
    tracer: trace.Tracer, subject: str, headers: dict[str, str] | None
) -> Iterator[Span]:
    """The span of handling one message we consumed with nats-py, child of its publisher's."""
    if not _receivers:
        with _within(extract_trace(headers)) as span:
            yield span
        return
    with tracer.start_as_current_span(
        f"process {subject}",
        context=extract_trace(headers),
        kind=SpanKind.CONSUMER,
        attributes=_messaging_attributes(subject, "process"),
    ) as span:
        yield span
