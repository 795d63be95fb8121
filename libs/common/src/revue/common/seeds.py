"""The seeds' entry points, as their users call them, over Revue's real machinery.

The source documents (seeds 000 and 001) sketch process-wide helpers; these
are they, thin and documented, each backed by what the services really run:

    seed name                          here, over
    ---------------------------------  ---------------------------------------------
    get_ai_cache()                     the AIResultCache this process's service built
                                       (L1 + shared L2, the services' own keys)
    cached_ai_call(cache, kind, ttl)   AIResultCache.get_or_compute (single-flight)
    CacheKeyGenerator                  revue.common.contracts.keys
    register_batch_processor(name, p)  a name -> BatchProcessor registry; the analysis
    get_batch_processor(name)          service registers its micro-batcher as
    get_all_metrics()                  "ai_analysis"
    BatchProcessor, BatchConfig        revue.common.concurrency.batching
    retry, retry_async, RetryPresets,  revue.common.resilience (tenacity underneath)
    RetryExhaustedError, CircuitBreaker
    RateLimiter(rate, burst)           revue.common.resilience.TokenBucket (aiolimiter)

The query optimizer's `QueryOptimizer` is in `revue.query_optimizer.seeds`,
the CDN's `CDNManager` in `revue.cdn.seeds`, `ValidationErrorResponse` and
the request schemas in `revue.gateway.validation`.
"""

from __future__ import annotations

from typing import Any

from revue.common.cache import AIResultCache, CacheConfig, CacheKeyGenerator, cached_ai_call
from revue.common.concurrency.batching import BatchConfig, BatchProcessor
from revue.common.resilience import (
    CircuitBreaker,
    RateLimiter,
    RetryExhaustedError,
    RetryPresets,
    retry,
    retry_async,
)

__all__ = [
    "BatchConfig",
    "BatchProcessor",
    "CacheKeyGenerator",
    "CircuitBreaker",
    "RateLimiter",
    "RetryExhaustedError",
    "RetryPresets",
    "cached_ai_call",
    "get_ai_cache",
    "get_all_metrics",
    "get_batch_processor",
    "register_ai_cache",
    "register_batch_processor",
    "retry",
    "retry_async",
]

_ai_cache: AIResultCache | None = None
_batch_processors: dict[str, BatchProcessor[Any, Any]] = {}


def register_ai_cache(cache: AIResultCache) -> None:
    """Make `cache` what `get_ai_cache()` returns in this process (services do it)."""
    global _ai_cache
    _ai_cache = cache


def get_ai_cache() -> AIResultCache:
    """This process's result cache: the one its service built (L1 + shared L2).

    Outside a service (a script), a cache over the configured Redis
    (`REDIS_URL`, `BUS_NAMESPACE`), made on first use, whose results are the
    caller's own (`provider="external"` in their keys).
    """
    global _ai_cache
    if _ai_cache is None:
        from redis.asyncio import Redis

        from revue.common.cache.config import namespace_for
        from revue.common.settings import ServiceSettings

        settings = ServiceSettings()
        _ai_cache = AIResultCache(
            Redis.from_url(settings.redis_url),
            CacheConfig(namespace=namespace_for(settings.bus_namespace)),
            origin="script",
        )
    return _ai_cache


def register_batch_processor(name: str, processor: BatchProcessor[Any, Any]) -> None:
    """Name a batch processor for `get_batch_processor` and `get_all_metrics`."""
    _batch_processors[name] = processor


def get_batch_processor(name: str) -> BatchProcessor[Any, Any]:
    try:
        return _batch_processors[name]
    except KeyError:
        known = ", ".join(sorted(_batch_processors)) or "none"
        raise KeyError(f"no batch processor named {name!r} (registered: {known})") from None


def get_all_metrics() -> dict[str, dict[str, Any]]:
    """Seed 000's `/metrics/batching` body: every registered processor's figures."""
    return {name: processor.get_metrics() for name, processor in _batch_processors.items()}
