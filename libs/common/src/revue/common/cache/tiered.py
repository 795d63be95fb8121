"""AIResultCache: L1 then L2, single-flight misses, invalidation everywhere.

Reads try L1, then L2 (a hit there is copied into L1 for the entry's
remaining time). Writes go to both.
Concurrent misses on one key compute once (`get_or_compute`). Only
successful results should be stored; errors are never cached because
`get_or_compute` stores only what `compute` returned. `CACHE_ENABLED=false`
(config.enabled) makes every call a pass-through.

Invalidation (by key, prefix or tag) removes L2 entries and this process's
L1 copies, then calls `announce` so that other processes drop theirs (the
cache service publishes it as `cache.invalidate`); `apply_remote` is what a
process does when such an announcement arrives.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, ParamSpec, TypeVar

import orjson
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from revue.common.cache.config import CacheConfig
from revue.common.cache.l1 import L1MemoryCache
from revue.common.cache.l2 import L2RedisCache
from revue.common.concurrency.singleflight import SingleFlight
from revue.common.contracts.events import (
    MAX_KEYS_PER_MESSAGE,
    MAX_PREFIXES_PER_MESSAGE,
    AnalyzerIdentity,
    InvalidateCache,
)
from revue.common.contracts.keys import CacheKeyGenerator
from revue.common.resilience import CircuitBreaker

P = ParamSpec("P")
T = TypeVar("T")

cache_hits_total = Counter("cache_hits_total", "Cache hits", ["tier"])
cache_misses_total = Counter("cache_misses_total", "Cache misses (both tiers)")
ai_cache_hit_rate = Gauge("ai_cache_hit_rate", "Share of cache reads answered from L1 or L2")
ai_calls_saved_total = Counter("ai_calls_saved_total", "AI provider calls avoided by the cache")
cost_saved_usd_total = Counter(
    "cache_cost_saved_usd_total",
    "What the results served from the cache cost to compute (their stored usage)",
)
stale_writes_skipped_total = Counter(
    "cache_stale_writes_skipped_total",
    "Writes of a result computed before an invalidation of its key, not made",
)
HITS_BY_TIER = {tier: cache_hits_total.labels(tier) for tier in ("l1", "l2")}

Announce = Callable[[InvalidateCache], Awaitable[None]]


class AIResultCache:
    def __init__(
        self,
        redis: Redis | None,
        config: CacheConfig | None = None,
        announce: Announce | None = None,
        origin: str = "",
    ) -> None:
        self.config = config or CacheConfig()
        self.l1 = L1MemoryCache(self.config.l1_max_entries, self.config.l1_max_bytes)
        self.l2 = (
            L2RedisCache(
                redis,
                self.config.namespace,
                CircuitBreaker(
                    f"cache-l2-{self.config.namespace}",
                    failure_threshold=self.config.breaker_failure_threshold,
                    recovery_timeout=self.config.breaker_recovery_timeout,
                ),
                self.config.redis_timeout,
            )
            if redis is not None
            else None
        )
        self.announce = announce
        self.origin = origin
        # Whose results this process reads and writes (part of each key), once known.
        self.analyzer: AnalyzerIdentity | None = None
        self.flights: SingleFlight[Any] = SingleFlight()
        self.hits = 0
        self.misses = 0
        self.computed = 0
        self.saved_usd = 0.0  # the stored cost of every hit whose cost is known
        self.unpriced_hits = 0  # hits whose cost is not known: the flat figure applies

    # --- reads and writes -----------------------------------------------------------

    async def get_raw(self, key: str) -> bytes | None:
        if not self.config.enabled:
            return None
        value = self.l1.get(key)
        if value is not None:
            self._hit("l1", self.l1.saving(key))
            return value
        if self.l2 is not None:
            value, seconds_left = await self.l2.get_with_ttl(key)
            if value is not None:
                saving = stored_cost(value)
                self._hit("l2", saving)
                if seconds_left > 0:  # the L1 copy expires with the entry, never after it
                    self.l1.set(key, value, seconds_left, saving=saving)
                return value
        self._miss()
        return None

    def peek_local(self, key: str) -> bytes | None:
        """This process's copy only, no I/O and not counted: for a caller that may still
        refuse the request (`count_local_hit` once it serves it) or go on to `get`."""
        return self.l1.get(key, count=False) if self.config.enabled else None

    def count_local_hit(self, key: str) -> None:
        self.l1.hits += 1
        self._hit("l1", self.l1.saving(key))

    async def get(self, key: str) -> Any | None:
        raw = await self.get_raw(key)
        return None if raw is None else orjson.loads(raw)

    async def set(
        self,
        key: str,
        value: Any,
        content_type: str = "analysis",
        *,
        ttl: int | None = None,
        tags: Iterable[str] = (),
        temperature: float | None = None,
        computed_at: float | None = None,
    ) -> bool:
        """Store in both tiers; False when the policy says this must not be cached, or when
        the value (computed at `computed_at`, epoch seconds) is older than an invalidation
        of its key: a late write must not undo it (watermarks.py)."""
        if not self.config.enabled:
            return False
        seconds = ttl if ttl is not None else self.config.ttl.ttl_for(content_type, temperature)
        if seconds <= 0:
            return False
        tags = tuple(tags)
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        self.l1.set(key, raw, seconds, tags, stored_cost(value))
        if self.l2 is None:
            return True
        if computed_at is None:
            await self.l2.set(key, raw, seconds, tags)
            return True
        # L1 first: an invalidation announced after the write below drops this copy too.
        if await self.l2.set_unless_invalidated(key, raw, seconds, tags, computed_at) is False:
            self.l1.delete(key)
            stale_writes_skipped_total.inc()
            return False
        return True

    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]],
        content_type: str = "analysis",
        *,
        ttl: int | None = None,
        tags: Iterable[str] = (),
        temperature: float | None = None,
    ) -> T:
        """The cached value, or compute it once however many callers miss together."""
        cached = await self.get(key)
        if cached is not None:
            return cached

        async def fill() -> T:
            value = await compute()  # an exception propagates and is never stored
            self.computed += 1
            await self.set(key, value, content_type, ttl=ttl, tags=tags, temperature=temperature)
            return value

        return await self.flights.do(key, fill)

    # --- the seed's analysis helpers ------------------------------------------------

    def analysis_key(
        self,
        code: str,
        language: str,
        rules: Iterable[str] = (),
        *,
        max_issues: int = 100,
        analyzer: AnalyzerIdentity | None = None,
        model: str | None = None,
    ) -> str:
        """The key a result of this analyzer has: the services' own key for their results.

        The analyzer is part of every key (a different analyzer may answer
        differently): the one given, else this process's (`analyzer`, set by the
        service that computes or learns it), else the caller's own results
        (`provider="external"`, with the seed's `model`), which never share a
        key with a service's.
        """
        who = (
            analyzer
            or self.analyzer
            or AnalyzerIdentity(provider="external", model=model, version="")
        )
        return CacheKeyGenerator.generate_analysis_key(
            code,
            language,
            rules,
            max_issues=max_issues,
            provider=who.provider,
            model=who.model,
            analyzer_version=who.version,
        )

    async def get_analysis(
        self, code: str, language: str, rules: Iterable[str] = (), **params: Any
    ) -> Any:
        return await self.get(self.analysis_key(code, language, rules, **params))

    async def set_analysis(
        self, code: str, language: str, rules: Iterable[str], result: Any, **params: Any
    ) -> bool:
        key = self.analysis_key(code, language, rules, **params)
        return await self.set(key, result, "analysis")

    # --- invalidation ---------------------------------------------------------------

    async def invalidate(
        self,
        keys: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        tags: Iterable[str] = (),
    ) -> int:
        """Remove entries here and in L2, and tell every other process.

        Any number of names: the announcement is split into events within the
        message limits.
        """
        keys, prefixes, tags = list(keys), list(prefixes), list(tags)
        removed = 0
        if self.l2 is not None:
            # Marked before the entries go: a late write of an older result then sees it.
            await self.l2.mark_invalidated(keys, prefixes, tags)
            removed += await self.l2.delete(keys)
            for prefix in prefixes:
                removed += await self.l2.delete_prefix(prefix)
            for tag in tags:
                count, members = await self.l2.delete_tag(tag)
                removed += count
                # A copy another process filled from L2 carries no tags: name its key.
                keys.extend(sorted(members))
        for event in invalidation_events(keys, prefixes, tags, self.origin):
            removed += self.apply_remote(event)
            if self.announce is not None:
                await self.announce(event)
        return removed

    def apply_remote(self, event: InvalidateCache) -> int:
        """Drop this process's L1 copies named by an invalidation."""
        removed = sum(self.l1.delete(key) for key in event.keys)
        removed += sum(self.l1.delete_prefix(prefix) for prefix in event.prefixes)
        removed += sum(self.l1.delete_tag(tag) for tag in event.tags)
        return removed

    # --- figures --------------------------------------------------------------------

    def _hit(self, tier: str, saving: float | None = None) -> None:
        self.hits += 1
        HITS_BY_TIER[tier].inc()
        ai_calls_saved_total.inc()
        if saving is None:
            self.unpriced_hits += 1
        else:
            self.saved_usd += saving
            cost_saved_usd_total.inc(saving)
        ai_cache_hit_rate.set(self.hits / (self.hits + self.misses))

    def _miss(self) -> None:
        self.misses += 1
        cache_misses_total.inc()
        ai_cache_hit_rate.set(self.hits / (self.hits + self.misses))

    def get_stats(self) -> dict[str, Any]:
        reads = self.hits + self.misses
        return {
            "enabled": self.config.enabled,
            "global": {
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": round(self.hits / reads, 4) if reads else 0.0,
            },
            "savings_estimate": {
                "ai_calls_saved": self.hits,
                # The stored cost of each result served, the flat price only where unknown
                "estimated_cost_saved_usd": round(
                    self.saved_usd + self.unpriced_hits * self.config.cost_per_call_usd, 6
                ),
                "stored_cost_saved_usd": round(self.saved_usd, 6),
                "hits_at_stored_cost": self.hits - self.unpriced_hits,
                "hits_at_flat_price": self.unpriced_hits,
                "flat_price_per_call_usd": self.config.cost_per_call_usd,
            },
            "l1": self.l1.stats(),
            "l2": self.l2.stats() if self.l2 is not None else None,
            "computed": self.computed,
        }


def stored_cost(value: Any) -> float | None:
    """The `usage.cost_usd` a cached result carries (what computing it cost), if any."""
    if isinstance(value, bytes):
        if b'"cost_usd"' not in value:
            return None  # most values (the builtin analyzer's) carry none: no parse
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    usage = value.get("usage") if isinstance(value, dict) else None
    cost = usage.get("cost_usd") if isinstance(usage, dict) else None
    return float(cost) if isinstance(cost, int | float) else None


def invalidation_events(
    keys: list[str], prefixes: list[str], tags: list[str], origin: str
) -> Iterator[InvalidateCache]:
    """One event per chunk of names, each chunk within InvalidateCache's limits."""
    key_limit, other_limit = MAX_KEYS_PER_MESSAGE, MAX_PREFIXES_PER_MESSAGE
    rounds = max(
        1,
        -(-len(keys) // key_limit),
        -(-len(prefixes) // other_limit),
        -(-len(tags) // other_limit),
    )
    for index in range(rounds):
        yield InvalidateCache(
            keys=keys[index * key_limit : (index + 1) * key_limit],
            prefixes=prefixes[index * other_limit : (index + 1) * other_limit],
            tags=tags[index * other_limit : (index + 1) * other_limit],
            origin=origin or None,
        )


def cached_ai_call(
    cache: AIResultCache, content_type: str = "analysis", ttl: int | None = None
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorator (seed 001): cache an async function's result by its arguments."""

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            key = CacheKeyGenerator.generate_key(
                content_type, fn.__qualname__, {"args": args, "kwargs": kwargs}
            )
            return await cache.get_or_compute(
                key, lambda: fn(*args, **kwargs), content_type, ttl=ttl
            )

        return wrapper

    return decorate
