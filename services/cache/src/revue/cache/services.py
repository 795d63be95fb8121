"""The cache service's use cases: entries read and written for others, results kept.

Free of NATS: `entrypoints/bus.py` decodes the requests and events and calls
these; tests can call them directly.
"""

from __future__ import annotations

from typing import Any

from revue.common.cache import AIResultCache
from revue.common.contracts.events import AnalysisCompleted, GetCacheEntry, SetCacheEntry


class CacheService:
    def __init__(self, cache: AIResultCache) -> None:
        self.cache = cache
        self.results_stored = 0

    async def get_entry(self, request: GetCacheEntry) -> dict[str, Any]:
        raw = await self.cache.get_raw(request.key)
        return {"hit": raw is not None, "value": raw.decode() if raw is not None else None}

    async def set_entry(self, request: SetCacheEntry) -> dict[str, bool]:
        stored = await self.cache.set(
            request.key,
            request.value.encode(),
            request.content_type,
            ttl=request.ttl_s,
            tags=request.tags,
        )
        return {"stored": stored}

    async def keep_result(self, event: AnalysisCompleted) -> None:
        """Write a successful analysis through to L2, under the key its analyzer computed.

        Failures are never stored: the next identical request must reach the
        provider again. An event may come after an invalidation of its key (the
        client had its answer long before): its result is then not stored again.
        """
        if event.status == "succeeded" and event.result and event.cache_key:
            stored = await self.cache.set(
                event.cache_key,
                event.result.model_dump(mode="json"),
                "analysis",
                computed_at=event.completed_at.timestamp(),
            )
            self.results_stored += stored
