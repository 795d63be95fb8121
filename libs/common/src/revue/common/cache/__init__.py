"""The two-tier result cache (seed 001's AIResultCache): L1 in-process, L2 Redis.

    from revue.common.cache import AIResultCache, CacheConfig, CacheKeyGenerator

`get_ai_cache()`, the process's own cache, is in `revue.common.seeds`.
"""

from revue.common.cache.config import CacheConfig, TTLPolicy
from revue.common.cache.l1 import L1MemoryCache
from revue.common.cache.l2 import L2RedisCache
from revue.common.cache.tiered import AIResultCache, cached_ai_call
from revue.common.contracts.keys import CacheKeyGenerator

__all__ = [
    "AIResultCache",
    "CacheConfig",
    "CacheKeyGenerator",
    "L1MemoryCache",
    "L2RedisCache",
    "TTLPolicy",
    "cached_ai_call",
]
