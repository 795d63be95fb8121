"""L1 coherence across processes: `cache.invalidate` on core NATS, no queue group.

Every process that holds an L1 subscribes, so every copy is dropped; the
process that invalidated has already dropped its own and cleared L2, and
ignores its own announcement.
"""

from __future__ import annotations

import uuid

from faststream.nats import NatsBroker
from redis.asyncio import Redis

from revue.common.cache.config import CacheConfig
from revue.common.cache.tiered import AIResultCache, Announce
from revue.common.contracts import subjects
from revue.common.contracts.events import InvalidateCache
from revue.common.contracts.subjects import BusTopology


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


def shared_cache(
    broker: NatsBroker,
    topology: BusTopology,
    redis: Redis,
    config: CacheConfig,
    owner: str,
) -> AIResultCache:
    """This process's AIResultCache, announcing its invalidations and following others'."""
    cache = AIResultCache(
        redis,
        config,
        announce=announcer(broker, topology),
        origin=f"{owner}-{uuid.uuid4().hex[:8]}",
    )
    follow_invalidations(broker, topology, cache)
    return cache
