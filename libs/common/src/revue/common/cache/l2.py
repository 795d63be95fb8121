"""L2: Redis, shared by every process, and never a reason for a caller to fail.

Every Redis call goes through a circuit breaker with a short timeout: errors
are counted and answered as a miss (or a skipped write), and while Redis is
down the breaker stops hammering it; the first probe after the recovery
timeout brings L2 back without a restart. Tags are Redis sets of keys, so
invalidation by tag never scans; invalidation by prefix uses SCAN + UNLINK,
which never blocks the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from revue.common.cache.watermarks import Watermarks
from revue.common.contracts.errors import CircuitOpenError
from revue.common.resilience import CircuitBreaker

T = TypeVar("T")
log = structlog.get_logger("revue.cache.l2")
TAG_TTL = 7 * 86_400
l2_errors_total = Counter("cache_l2_errors_total", "Redis failures absorbed by the cache", ["op"])


class L2RedisCache:
    def __init__(
        self,
        redis: Redis,
        namespace: str = "revue",
        breaker: CircuitBreaker | None = None,
        timeout: float = 0.25,
    ) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:cache:"
        self.breaker = breaker or CircuitBreaker(
            "cache-l2", failure_threshold=3, recovery_timeout=2
        )
        self.timeout = timeout
        self.watermarks = Watermarks(redis, self.prefix, tag_ttl=TAG_TTL)
        self.hits = 0
        self.misses = 0
        self.errors = 0

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _tag(self, tag: str) -> str:
        return f"{self.prefix}tag:{tag}"

    async def _guarded(self, op: str, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        try:
            return await self.breaker.call(lambda: asyncio.wait_for(call(), self.timeout))
        except CircuitOpenError:
            return fallback
        except (RedisError, OSError, TimeoutError) as error:
            self.errors += 1
            l2_errors_total.labels(op).inc()
            log.warning("redis unavailable; cache degrades to L1", op=op, error=repr(error))
            return fallback

    async def get(self, key: str) -> bytes | None:
        value, _ = await self.get_with_ttl(key)
        return value

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float]:
        """The value and the seconds it has left (GET and PTTL in one round trip), so a
        copy taken into L1 expires when this one does, not a default TTL later."""

        async def read() -> tuple[bytes | None, float]:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self._key(key))
                pipe.pttl(self._key(key))
                value, milliseconds = await pipe.execute()
            return value, milliseconds / 1000 if milliseconds and milliseconds > 0 else 0.0

        value, seconds = await self._guarded("get", read, (None, 0.0))
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value, seconds

    async def set(self, key: str, value: bytes, ttl: int, tags: Iterable[str] = ()) -> bool:
        async def write() -> bool:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key(key), value, ex=ttl)
                for tag in tags:
                    pipe.sadd(self._tag(tag), key)
                    # A tag outlives its keys (stale members unlink as no-ops);
                    # EXPIRE's GT option would need Redis 7.
                    pipe.expire(self._tag(tag), max(ttl, TAG_TTL))
                await pipe.execute()
            return True

        return await self._guarded("set", write, False)

    async def delete(self, keys: Iterable[str]) -> int:
        names = [self._key(key) for key in keys]
        if not names:
            return 0
        return await self._guarded("delete", lambda: self.redis.unlink(*names), 0)

    async def delete_prefix(self, prefix: str) -> int:
        async def sweep() -> int:
            removed = 0
            batch: list[Any] = []
            async for name in self.redis.scan_iter(match=self._key(prefix) + "*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += await self.redis.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self.redis.unlink(*batch)
            return removed

        return await self._guarded("delete_prefix", sweep, 0)

    async def delete_tag(self, tag: str) -> tuple[int, list[str]]:
        """Entries removed, and the keys the tag named (for other processes' L1)."""

        async def sweep() -> tuple[int, list[str]]:
            members = await self.redis.smembers(self._tag(tag))
            keys = [m.decode() if isinstance(m, bytes) else m for m in members]
            names = [self._key(key) for key in keys]
            removed = await self.redis.unlink(*names) if names else 0
            await self.redis.unlink(self._tag(tag))
            return removed, keys

        return await self._guarded("delete_tag", sweep, (0, []))

    async def mark_invalidated(
        self, keys: Iterable[str], prefixes: Iterable[str], tags: Iterable[str]
    ) -> None:
        """Leave when these were invalidated, for writes of older results (watermarks.py)."""
        await self._guarded("mark", lambda: self.watermarks.mark(keys, prefixes, tags), None)

    async def set_unless_invalidated(
        self, key: str, value: bytes, ttl: int, tags: Iterable[str], computed_at: float
    ) -> bool | None:
        """Written, or refused (an invalidation covering `key` came at or after
        `computed_at`), in one step (watermarks.py); None when Redis could not say."""
        tags = list(tags)
        names = (self._key(key), [self._tag(tag) for tag in tags])
        return await self._guarded(
            "set",
            lambda: self.watermarks.store_unless_invalidated(
                names, key, value, ttl, tags, computed_at
            ),
            None,
        )

    def stats(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "errors": self.errors,
            "breaker": self.breaker.state.name.lower(),
        }
