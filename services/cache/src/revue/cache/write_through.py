"""Write-through of analysis results: `analysis.completed` -> L2 (successful ones only).

A durable pull consumer on ANALYSIS_EVENTS; events come in batches and each
successful result is stored under the cache key the analysis service
computed, so the next identical request is answered from the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.errors import ConnectionClosedError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from revue.common import subjects
from revue.common.cache import AIResultCache
from revue.common.events import AnalysisCompleted, MalformedEventError, decode_event
from revue.common.streams import ANALYSIS_EVENTS
from revue.common.subjects import BusTopology

log = structlog.get_logger("revue.cache.write_through")


class WriteThrough:
    def __init__(
        self, nats: Callable[[], Client], topology: BusTopology, cache: AIResultCache, durable: str
    ) -> None:
        self._nats = nats
        self.topology = topology
        self.cache = cache
        self.durable = durable
        self.stored = 0
        self._task: asyncio.Task[None] | None = None
        self._subscription: Any = None
        self._stopping = False

    async def start(self) -> None:
        self._subscription = (
            await self._nats()
            .jetstream()
            .pull_subscribe(
                self.topology.subject(subjects.ANALYSIS_COMPLETED),
                durable=self.durable,
                stream=self.topology.stream(ANALYSIS_EVENTS.name),
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW, ack_wait=30
                ),
            )
        )
        self._task = asyncio.create_task(self._run(), name="cache-write-through")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                messages = await self._subscription.fetch(batch=256, timeout=1)
            except TimeoutError:
                continue
            except ConnectionClosedError:
                return
            except Exception as error:  # reconnecting: keep trying, visibly
                log.warning("write-through fetch failed", error=repr(error))
                await asyncio.sleep(1)
                continue
            for message in messages:
                try:
                    event = decode_event(AnalysisCompleted, message.data)
                except MalformedEventError as error:
                    log.warning("malformed completion skipped", reason=error.reason)
                    await message.term()
                    continue
                if event.status == "succeeded" and event.result and event.cache_key:
                    stored = await self.cache.set(
                        event.cache_key, event.result.model_dump(mode="json"), "analysis"
                    )
                    self.stored += stored
                await message.ack()
