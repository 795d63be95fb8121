"""A message published with one process's broker keeps its trace in another process."""

import asyncio
import json
import sys
import uuid
from pathlib import Path

import nats
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from revue.common.bus.broker import create_broker
from revue.common.contracts.events import RunAnalysis
from revue.common.settings import ServiceSettings

ECHO = Path(__file__).parent / "processes" / "trace_echo.py"


async def test_trace_context_crosses_processes_over_nats(nats_url):
    subject, report = f"trace.{uuid.uuid4().hex}", f"trace-report.{uuid.uuid4().hex}"
    consumer = await asyncio.create_subprocess_exec(
        sys.executable, str(ECHO), nats_url, subject, report, stdout=asyncio.subprocess.PIPE
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = ServiceSettings(nats_url=nats_url, otel_service_name="producer")
    broker = create_broker(settings, registry=CollectorRegistry(), tracer_provider=provider)
    listener = await nats.connect(nats_url)
    try:
        reports = await listener.subscribe(report)
        assert (await asyncio.wait_for(consumer.stdout.readline(), 30)).strip() == b"ready"
        event = RunAnalysis(code="x = 1", language="python")
        async with broker:
            await broker.start()
            with provider.get_tracer("test").start_as_current_span("client request") as root:
                await broker.publish(event, subject)
        seen = json.loads((await reports.next_msg(timeout=30)).data)
    finally:
        await listener.drain()
        await asyncio.wait_for(consumer.wait(), 30)

    producer_spans = {format(s.context.span_id, "016x"): s for s in exporter.get_finished_spans()}
    assert seen["job_id"] == str(event.job_id)
    assert seen["trace_id"] == format(root.get_span_context().trace_id, "032x")
    # The consumer's span hangs off a span the producer exported, received remotely.
    assert seen["parent_is_remote"]
    parent = producer_spans[seen["parent_span_id"]]
    assert parent.parent.span_id == root.get_span_context().span_id
    assert consumer.returncode == 0
