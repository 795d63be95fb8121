"""One client request, one trace: gateway -> NATS -> analysis -> Redis / Postgres -> cache.

The gateway, analysis and cache services run as real processes exporting
OTLP/HTTP to a receiver in this test, which decodes the protobuf exactly as
Jaeger's collector would. The client starts the trace itself (a W3C
`traceparent`), so every span of the request can be asked for by trace id.
"""

import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest
from gateway_with_analysis import login
from otlp_receiver import OtlpReceiver, ReceivedSpan
from service_processes import running_services

from revue.devkit.testing.waiting import wait_until

pytestmark = pytest.mark.suite


def parent_of(span: ReceivedSpan, spans: list[ReceivedSpan]) -> ReceivedSpan | None:
    return next((s for s in spans if s.span_id == span.parent_span_id), None)


def ancestry(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    """Services from this span up to the root, e.g. [cache, analysis, gateway]."""
    chain = []
    while span is not None:
        chain.append(span.service)
        span = parent_of(span, spans)
    return chain


def print_tree(spans: list[ReceivedSpan], parent: str, depth: int = 0) -> None:
    for span in (s for s in spans if s.parent_span_id == parent):
        print(f"{'  ' * depth}{span.service}: {span.kind.removeprefix('SPAN_KIND_')} {span.name}")
        print_tree(spans, span.span_id, depth + 1)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


async def test_one_request_is_one_trace_across_gateway_analysis_and_cache(service_env, receiver):
    async with running_services(
        service_env,
        ("analysis", "cache", "gateway"),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    ) as services:
        async with httpx.AsyncClient(base_url=services.url("gateway"), timeout=30) as client:
            headers = await login(client)
            trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
            response = await client.post(
                "/api/v1/analyze",
                json={
                    "code": f"import os\nos.system(input())  # {uuid.uuid4()}\n",
                    "language": "python",
                },
                headers={**headers, "traceparent": f"00-{trace_id}-{client_span_id}-01"},
            )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"]

        expected = {"revue-gateway", "revue-analysis", "revue-cache"}

        def complete() -> bool:
            """All three services reported, down to the last hop, with no parent missing."""
            spans = receiver.trace(trace_id)
            known = {s.span_id for s in spans} | {client_span_id}
            return (
                {s.service for s in spans} == expected
                and any(s.service == "revue-cache" and s.attributes.get("db.system") for s in spans)
                and all(s.parent_span_id in known for s in spans)
            )

        # Each process exports on its own schedule: wait for the trace to close up.
        await wait_until(complete, timeout=30, message="the whole trace exported")
        spans = receiver.trace(trace_id)

    print_tree(spans, client_span_id)
    # Exactly one root inside the suite: the gateway's server span, child of the client's.
    roots = [s for s in spans if parent_of(s, spans) is None]
    assert [(r.service, r.kind, r.parent_span_id) for r in roots] == [
        ("revue-gateway", "SPAN_KIND_SERVER", client_span_id)
    ]
    server = roots[0]
    assert server.attributes["http.route"] == "/api/v1/analyze"

    # gateway's NATS request -> analysis consumes it, under the same parent chain.
    send = next(
        s
        for s in spans
        if s.service == "revue-gateway" and s.attributes.get("messaging.system") == "nats"
    )
    assert send.kind == "SPAN_KIND_CLIENT"
    assert parent_of(send, spans) == server
    analysis_consumer = next(
        s for s in spans if s.service == "revue-analysis" and s.kind == "SPAN_KIND_CONSUMER"
    )
    assert parent_of(analysis_consumer, spans) == send

    # analysis talks to Redis (its cache) and Postgres inside that trace.
    analysis_systems = {
        s.attributes.get("db.system")
        for s in spans
        if s.service == "revue-analysis" and ancestry(s, spans)[-1] == "revue-gateway"
    }
    assert {"redis", "postgresql"} <= analysis_systems

    # The cache service's write-through hangs off the analysis service's publish.
    cache_consumer = next(
        s for s in spans if s.service == "revue-cache" and s.kind == "SPAN_KIND_CONSUMER"
    )
    chain = ancestry(cache_consumer, spans)
    assert chain[:2] == ["revue-cache", "revue-analysis"]
    assert chain[-1] == "revue-gateway"

    # Every resource says who it is.
    for span in spans:
        assert span.service in expected
        assert span.resource["service.namespace"] == "revue"
        assert span.resource["service.version"]
