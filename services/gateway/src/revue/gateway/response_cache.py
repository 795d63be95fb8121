"""The response cache for GET endpoints (seed 003's `@cached(ttl, key_prefix)`).

A cached GET stores the exact bytes it sent, keyed by prefix, resource and
caller, in the same two tiers as results; the ETag is the hash of those
bytes, so a 304 can be answered without the database. Writes invalidate by
prefix: a job that changes drops `resp:analysis:<job id>:` (its views, for
every field selection) and `resp:analyses:<owner>:` (the owner's pages), in
L2, in this gateway's L1, and in every other gateway's L1 via the fan-out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from revue.common.cache import AIResultCache

CONTENT_TYPE = "response"


def response_key(prefix: str, scope: str, *parts: str) -> str:
    variant = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()
    return f"resp:{prefix}:{scope}:{variant}"


class ResponseCache:
    def __init__(self, cache: AIResultCache, ttl: int) -> None:
        self.cache = cache
        self.ttl = ttl

    async def cached(
        self, prefix: str, scope: str, parts: Iterable[str], render: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """The cached body, or render it once and keep it for `ttl` seconds."""
        if self.ttl <= 0 or not self.cache.config.enabled:
            return await render()
        key = response_key(prefix, scope, *parts)
        hit = await self.cache.get_raw(key)
        if hit is not None:
            return hit
        body = await render()
        await self.cache.set(key, body, CONTENT_TYPE, ttl=self.ttl)
        return body

    async def job_changed(self, job_id: UUID, owner_id: UUID) -> None:
        await self.jobs_changed([(job_id, owner_id)])

    async def jobs_changed(self, changes: Iterable[tuple[UUID, UUID]]) -> None:
        prefixes: set[str] = set()
        for job_id, owner_id in changes:
            prefixes.add(f"resp:analysis:{job_id}:")
            prefixes.add(f"resp:analyses:{owner_id}:")
        if prefixes and self.ttl > 0 and self.cache.config.enabled:
            await self.cache.invalidate(prefixes=sorted(prefixes))
