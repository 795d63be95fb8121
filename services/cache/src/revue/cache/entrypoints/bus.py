"""Every bus entry point of the cache service.

- `cache.get` / `cache.set`: request/reply in queue group `cache` (`cache.stats`,
  which every holder of the result cache answers, is wired with the cache:
  `revue.common.cache.fanout`);
- `analysis.completed.>`: a durable pull consumer on ANALYSIS_EVENTS that
  writes each successful result through to L2, so the next identical request
  is answered from the cache wherever it arrives.
"""

from __future__ import annotations

from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from opentelemetry import trace

from revue.cache.services import CacheService
from revue.common.bus.pull_consumer import valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import (
    AnalysisCompleted,
    GetCacheEntry,
    SetCacheEntry,
)
from revue.common.contracts.streams import ANALYSIS_EVENTS
from revue.common.observability.tracing import consumer_span
from revue.common.service import ServiceRuntime

tracer = trace.get_tracer("revue.cache.bus")


def register(runtime: ServiceRuntime, service: CacheService, results_consumer: str) -> None:
    broker, topology, group = runtime.broker, runtime.topology, subjects.CACHE_QUEUE_GROUP

    @broker.subscriber(topology.subject(subjects.CACHE_GET), queue=group, max_workers=64)
    async def get_entry(request: GetCacheEntry) -> dict[str, Any]:
        return await service.get_entry(request)

    @broker.subscriber(topology.subject(subjects.CACHE_SET), queue=group, max_workers=64)
    async def set_entry(request: SetCacheEntry) -> dict[str, bool]:
        return await service.set_entry(request)

    async def keep_results(messages: list[Msg]) -> None:
        for message, event in await valid_events(messages, AnalysisCompleted):
            with consumer_span(tracer, message.subject, message.headers):
                await service.keep_result(event)
                await message.ack()

    runtime.durable_consumer(
        subjects.ANALYSIS_COMPLETED_ANY,
        ANALYSIS_EVENTS,
        results_consumer,
        keep_results,
        deliver_policy=DeliverPolicy.NEW,
    )
