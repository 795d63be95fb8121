"""Bus entry points of the cache service: get, set, stats (request/reply, queue group)."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from revue.common.cache import AIResultCache
from revue.common.contracts import subjects
from revue.common.contracts.events import GetCacheEntry, GetCacheStats, SetCacheEntry
from revue.common.contracts.subjects import BusTopology


def register(broker: NatsBroker, topology: BusTopology, cache: AIResultCache) -> None:
    group = subjects.CACHE_QUEUE_GROUP

    @broker.subscriber(topology.subject(subjects.CACHE_GET), queue=group, max_workers=64)
    async def get_entry(request: GetCacheEntry) -> dict[str, Any]:
        raw = await cache.get_raw(request.key)
        return {"hit": raw is not None, "value": raw.decode() if raw is not None else None}

    @broker.subscriber(topology.subject(subjects.CACHE_SET), queue=group, max_workers=64)
    async def set_entry(request: SetCacheEntry) -> dict[str, bool]:
        stored = await cache.set(
            request.key,
            request.value.encode(),
            request.content_type,
            ttl=request.ttl_s,
            tags=request.tags,
        )
        return {"stored": stored}

    @broker.subscriber(topology.subject(subjects.CACHE_STATS), queue=group)
    async def stats(_: GetCacheStats) -> dict[str, Any]:
        return cache.get_stats()
