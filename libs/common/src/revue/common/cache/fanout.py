"""A process's result cache on the bus: invalidations and figures, no queue group.

- `cache.invalidate`: every process that holds an L1 subscribes, so every copy
  is dropped; the process that invalidated has already dropped its own and
  cleared L2, and ignores its own announcement;
- `cache.stats`: every holder answers with its own figures (named by
  `holder`), so whoever asks (the gateway's `/metrics/cache`) gathers every
  replica's, not one replica's that a queue group happened to pick.
"""

from __future__ import annotations

import uuid
from typing import Any

from faststream.nats import NatsBroker
from redis.asyncio import Redis

from revue.common.cache.config import CacheConfig
from revue.common.cache.tiered import AIResultCache, Announce
from revue.common.contracts import subjects
from revue.common.contracts.events import GetCacheStats, InvalidateCache
from revue.common.contracts.subjects import BusTopology
from revue.common.seeds import register_ai_cache


def announcer(broker: NatsBroker, topology: BusTopology) -> Announce:
    subject = topology.subject(subjects.CACHE_INVALIDATE)

    async def announce(event: InvalidateCache) -> None:
        await broker.publish(event, subject)

    return announce


def follow_invalidations(broker: NatsBroker, topology: BusTopology, cache: AIResultCache) -> None:
    @broker.subscriber(topology.subject(subjects.CACHE_INVALIDATE))
    async def drop_l1_copies(event: InvalidateCache) -> None:
        if event.origin and event.origin == cache.origin:
            return
        cache.apply_remote(event)


def answer_stats(broker: NatsBroker, topology: BusTopology, cache: AIResultCache) -> None:
    @broker.subscriber(topology.subject(subjects.CACHE_STATS))
    async def figures(_: GetCacheStats) -> dict[str, Any]:
        return {"holder": cache.origin, **cache.get_stats()}


def shared_cache(
    broker: NatsBroker,
    topology: BusTopology,
    redis: Redis,
    config: CacheConfig,
    owner: str,
) -> AIResultCache:
    """This process's AIResultCache: announcing its invalidations, following others',
    answering `cache.stats` with its figures."""
    cache = AIResultCache(
        redis,
        config,
        announce=announcer(broker, topology),
        origin=f"{owner}-{uuid.uuid4().hex[:8]}",
    )
    follow_invalidations(broker, topology, cache)
    answer_stats(broker, topology, cache)
    register_ai_cache(cache)  # what the seeds' get_ai_cache() returns in this process
    return cache
