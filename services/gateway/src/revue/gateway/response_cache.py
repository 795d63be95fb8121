"""The response cache for GET endpoints (seed 003's `@cached(ttl, key_prefix)`).

A cached GET stores the exact bytes it sent, keyed by prefix, resource and
caller, in the same two tiers as results; the ETag is the hash of those
bytes, so a 304 can be answered without the database. Writes invalidate by
tag (seed 003 invalidates by pattern; a tag costs its own entries, a pattern
a sweep of the whole cache): a job that changes drops the entries tagged with
its id (its views, for every field selection) and with its owner (the owner's
pages), in L2, in this gateway's L1, and in every other gateway's L1 via the
fan-out. A new job changes only its owner's pages: its own view cannot have
been cached before it existed (a 404 is never cached).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from revue.common.cache import AIResultCache

CONTENT_TYPE = "response"


def job_tag(job_id: UUID) -> str:
    return f"resp-job:{job_id}"


def owner_tag(owner_id: UUID) -> str:
    return f"resp-owner:{owner_id}"


def response_key(prefix: str, scope: str, *parts: str) -> str:
    variant = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()
    return f"resp:{prefix}:{scope}:{variant}"


class ResponseCache:
    def __init__(self, cache: AIResultCache, ttl: int) -> None:
        self.cache = cache
        self.ttl = ttl

    async def cached(
        self,
        prefix: str,
        scope: str,
        parts: Iterable[str],
        render: Callable[[], Awaitable[bytes]],
        tags: Iterable[str] = (),
    ) -> bytes:
        """The cached body, or render it once and keep it for `ttl` seconds."""
        if self.ttl <= 0 or not self.cache.config.enabled:
            return await render()
        key = response_key(prefix, scope, *parts)
        hit = await self.cache.get_raw(key)
        if hit is not None:
            return hit
        body = await render()
        await self.cache.set(key, body, CONTENT_TYPE, ttl=self.ttl, tags=tags)
        return body

    async def job_changed(self, job_id: UUID, owner_id: UUID) -> None:
        await self.jobs_changed([(job_id, owner_id)])

    async def jobs_changed(self, changes: Iterable[tuple[UUID, UUID]]) -> None:
        tags: set[str] = set()
        for job_id, owner_id in changes:
            tags.update((job_tag(job_id), owner_tag(owner_id)))
        await self._drop(tags)

    async def jobs_added(self, owner_ids: Iterable[UUID]) -> None:
        await self._drop({owner_tag(owner_id) for owner_id in owner_ids})

    async def _drop(self, tags: set[str]) -> None:
        if tags and self.ttl > 0 and self.cache.config.enabled:
            await self.cache.invalidate(tags=sorted(tags))
