"""Write-through of analysis results: `analysis.completed` -> L2 (successful ones only).

A durable pull consumer on ANALYSIS_EVENTS; each successful result is stored
under the cache key the analysis service computed, so the next identical
request is answered from the cache.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from opentelemetry import trace

from revue.common.bus.pull_consumer import PullConsumer, valid_events
from revue.common.cache import AIResultCache
from revue.common.contracts import subjects
from revue.common.contracts.events import AnalysisCompleted
from revue.common.contracts.streams import ANALYSIS_EVENTS
from revue.common.contracts.subjects import BusTopology
from revue.common.observability.tracing import consumer_span

log = structlog.get_logger("revue.cache.write_through")
tracer = trace.get_tracer("revue.cache.write_through")


class WriteThrough:
    def __init__(
        self, nats: Callable[[], Client], topology: BusTopology, cache: AIResultCache, durable: str
    ) -> None:
        self.cache = cache
        self.stored = 0
        self.consumer = PullConsumer(
            nats,
            subject=topology.subject(subjects.ANALYSIS_COMPLETED_ANY),
            stream=topology.stream(ANALYSIS_EVENTS.name),
            durable=durable,
            deliver_policy=DeliverPolicy.NEW,
            handler=self._store,
        )
        self.start = self.consumer.start
        self.stop = self.consumer.stop

    async def _store(self, messages: list[Msg]) -> None:
        for message, event in await valid_events(messages, AnalysisCompleted):
            with consumer_span(tracer, message.subject, message.headers):
                if event.status == "succeeded" and event.result and event.cache_key:
                    stored = await self.cache.set(
                        event.cache_key, event.result.model_dump(mode="json"), "analysis"
                    )
                    self.stored += stored
                await message.ack()
