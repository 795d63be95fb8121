"""A separate consumer process for the trace-propagation test.

Consumes one `RunAnalysis` with a broker from `create_broker`, then publishes
what it saw of the trace (its span's trace id and parent) on a reply subject.
"""

import asyncio
import sys

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from revue.common.bus.broker import create_broker
from revue.common.contracts.events import RunAnalysis
from revue.common.observability.tracing import setup_tracing
from revue.common.settings import ServiceSettings


async def main(nats_url: str, subject: str, report_subject: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, otel_service_name="trace-echo")
    provider = setup_tracing(settings, set_global=False)
    # Spans are recorded once something receives them; this process reads its own.
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    broker = create_broker(settings, registry=CollectorRegistry(), tracer_provider=provider)
    done = asyncio.Event()

    @broker.subscriber(subject)
    async def consume(event: RunAnalysis) -> None:
        span = trace.get_current_span()
        context = span.get_span_context()
        parent = getattr(span, "parent", None)
        await broker.publish(
            {
                "job_id": str(event.job_id),
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
                "parent_span_id": format(parent.span_id, "016x") if parent else None,
                "parent_is_remote": bool(parent and parent.is_remote),
            },
            report_subject,
        )
        done.set()

    async with broker:
        await broker.start()
        # A round trip to the server: our subscriptions are registered there
        # before anyone is told to send.
        await broker.connection.flush()
        print("ready", flush=True)
        await asyncio.wait_for(done.wait(), 30)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
