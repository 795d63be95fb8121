"""The two-tier cache on real Redis: tiers, TTLs, bounds, single-flight, outages."""

import asyncio
import time

import pytest
from redis.asyncio import Redis

from revue.common.cache import AIResultCache, CacheConfig, L1MemoryCache
from revue.devkit.embedded import EmbeddedRedis
from revue.devkit.testing.waiting import wait_until


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def cache_for(redis, redis_prefix, **config) -> AIResultCache:
    return AIResultCache(redis, CacheConfig(namespace=redis_prefix.rstrip(":"), **config))


def test_l1_entries_expire_with_their_ttl():
    clock = Clock()
    l1 = L1MemoryCache(clock=clock)
    l1.set("k", b"v", ttl=10)
    assert l1.get("k") == b"v"
    clock.now += 10
    assert l1.get("k") is None
    assert len(l1) == 0


def test_l1_byte_bound_evicts_least_recently_used():
    l1 = L1MemoryCache(max_entries=100, max_bytes=30)
    l1.set("a", b"x" * 10, 60)
    l1.set("b", b"x" * 10, 60)
    l1.set("c", b"x" * 10, 60)
    assert l1.get("a") is not None  # "a" is now the most recently used
    l1.set("d", b"x" * 10, 60)  # 40 bytes > 30: the least recently used ("b") goes
    assert l1.get("b") is None
    assert {key for key in "acd" if l1.get(key) is not None} == {"a", "c", "d"}
    assert l1.bytes == 30
    assert l1.evictions == 1


async def test_l2_hit_fills_l1_and_ttls_expire_in_redis(redis, redis_prefix):
    writer = cache_for(redis, redis_prefix)
    reader = cache_for(redis, redis_prefix)  # another process: empty L1, same L2
    assert await writer.set("k", {"findings": [1]}, ttl=1)
    assert await reader.get("k") == {"findings": [1]}
    assert reader.get_stats()["l2"]["hits"] == 1
    assert await reader.get("k") == {"findings": [1]}
    assert reader.l1.hits == 1

    async def gone() -> bool:
        return await redis.get(f"{redis_prefix.rstrip(':')}:cache:k") is None

    await wait_until(gone, timeout=5, message="redis ttl")


async def test_concurrent_misses_compute_once(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)
    calls = 0

    async def compute():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"answer": 42}

    results = await asyncio.gather(*(cache.get_or_compute("q", compute) for _ in range(100)))
    assert results == [{"answer": 42}] * 100
    assert calls == 1
    assert await cache.get("q") == {"answer": 42}


async def test_errors_are_never_cached(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)

    async def failing():
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        await cache.get_or_compute("e", failing)
    assert await cache.get("e") is None


async def test_chat_with_temperature_above_point_three_is_never_stored(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)
    assert not await cache.set("hot", {"text": "hi"}, "chat", temperature=0.7)
    assert await cache.get("hot") is None
    assert await cache.set("cool", {"text": "hi"}, "chat", temperature=0.2)
    assert await cache.get("cool") == {"text": "hi"}


async def test_ttl_policy_follows_the_seed_table(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)
    policy = cache.config.ttl
    assert policy.ttl_for("analysis") == 86_400
    assert policy.ttl_for("embedding") == 7 * 86_400
    assert policy.ttl_for("model_response") == 3_600
    await cache.set("a", {"x": 1}, "analysis")
    ttl = await redis.ttl(f"{redis_prefix.rstrip(':')}:cache:a")
    assert 86_000 < ttl <= 86_400


async def test_a_result_computed_before_an_invalidation_is_not_stored_after_it(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)
    before = time.time()
    await cache.invalidate(keys=["ai:k:1"], prefixes=["ai:p:"], tags=["project:9"])
    # a late write of an older result: every way of being invalidated holds it off
    assert not await cache.set("ai:k:1", {"v": 1}, computed_at=before)
    assert not await cache.set("ai:p:anything", {"v": 1}, computed_at=before)
    assert not await cache.set("other:1", {"v": 1}, tags=["project:9"], computed_at=before)
    assert await cache.get("ai:k:1") is None and await cache.get("ai:p:anything") is None
    # what was computed after it, or is not covered by it, is stored
    after = time.time() + 0.001
    assert await cache.set("ai:k:1", {"v": 2}, computed_at=after)
    assert await cache.set("ai:q:1", {"v": 2}, computed_at=before)
    assert await cache.set("ai:p:new", {"v": 2})  # no time said: stored as before
    assert await cache.get("ai:k:1") == {"v": 2}


async def test_invalidation_by_key_prefix_and_tag(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)
    announced = []

    async def announce(event):
        announced.append(event)

    cache.announce = announce
    await cache.set("ai:analysis:v1:aa:1", {"v": 1}, tags=["project:7"])
    await cache.set("ai:analysis:v1:bb:1", {"v": 2})
    await cache.set("other", {"v": 3}, tags=["project:7"])
    await cache.set("keep", {"v": 4})
    await cache.invalidate(keys=["ai:analysis:v1:bb:1"])
    assert await cache.get("ai:analysis:v1:bb:1") is None
    await cache.invalidate(tags=["project:7"])
    assert await cache.get("ai:analysis:v1:aa:1") is None
    assert await cache.get("other") is None
    await cache.set("ai:analysis:v1:cc:1", {"v": 5})
    await cache.invalidate(prefixes=["ai:analysis:"])
    assert await cache.get("ai:analysis:v1:cc:1") is None
    assert await cache.get("keep") == {"v": 4}
    assert [(e.keys, e.prefixes, e.tags) for e in announced] == [
        (["ai:analysis:v1:bb:1"], [], []),
        # the tag's keys are named too: copies other processes filled from L2 carry no tags
        (sorted(["ai:analysis:v1:aa:1", "other"]), [], ["project:7"]),
        ([], ["ai:analysis:"], []),
    ]


def test_l1_tag_index_follows_evictions_and_deletes():
    l1 = L1MemoryCache(max_entries=2)
    l1.set("a", b"1", 60, tags=["t"])
    l1.set("b", b"2", 60, tags=["t", "u"])
    l1.set("c", b"3", 60, tags=["u"])  # evicts "a"
    assert l1.delete_tag("t") == 1  # only "b" was still there
    assert l1.get("c") == b"3"
    l1.delete("c")
    assert l1.delete_tag("u") == 0
    assert l1._tagged == {}  # nothing left behind for dropped entries


async def test_any_number_of_names_is_announced_within_message_limits(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix)
    announced = []

    async def announce(event):
        announced.append(event)

    cache.announce = announce
    tags = [f"owner:{index}" for index in range(150)]
    for tag in tags:
        await cache.set(f"page:{tag}", {"v": 1}, tags=[tag])
    assert await cache.invalidate(tags=tags) == 2 * 150  # each in L1 and in L2
    assert [len(event.tags) for event in announced] == [64, 64, 22]
    assert [await cache.get(f"page:{tag}") for tag in tags] == [None] * 150


async def test_disabled_cache_is_a_clean_pass_through(redis, redis_prefix):
    cache = cache_for(redis, redis_prefix, enabled=False)
    calls = 0

    async def compute():
        nonlocal calls
        calls += 1
        return {"n": calls}

    assert await cache.get_or_compute("k", compute) == {"n": 1}
    assert await cache.get_or_compute("k", compute) == {"n": 2}
    assert await redis.keys(f"{redis_prefix}*") == []


async def test_redis_stopped_mid_test_callers_see_no_error_and_l2_comes_back(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    client = Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    cache = AIResultCache(client, CacheConfig(breaker_recovery_timeout=0.2, redis_timeout=0.5))
    try:
        await cache.set("hot", {"v": 1})
        server.stop()
        assert await cache.get("hot") == {"v": 1}  # L1 keeps serving
        assert await cache.get("cold") is None  # a miss, not an error
        assert await cache.set("new", {"v": 2})  # written to L1; L2 write absorbed
        assert cache.l2.errors >= 1
        assert await cache.get("new") == {"v": 2}

        server = EmbeddedRedis(tmp_path / "redis", port=server.port).start()

        async def l2_back() -> bool:
            await cache.set("after", {"v": 3})
            other = AIResultCache(client, CacheConfig())
            return await other.get("after") == {"v": 3}

        await wait_until(l2_back, timeout=10, message="L2 used again")
    finally:
        await client.aclose()
        server.stop()


async def test_an_l2_hit_is_kept_in_l1_only_for_the_entrys_remaining_time(redis, redis_prefix):
    writer = cache_for(redis, redis_prefix)
    reader = cache_for(redis, redis_prefix)
    assert await writer.set("short-lived", {"v": 1}, ttl=30)
    assert await reader.get("short-lived") == {"v": 1}  # from L2: copied into reader's L1
    entry = reader.l1._entries["short-lived"]
    left = entry.expires_at - reader.l1.clock()
    assert 25 < left <= 30, left  # not the default TTL (an hour)
    assert reader.get_stats()["l2"]["hits"] == 1


async def test_the_savings_are_the_stored_cost_of_each_result_served_the_flat_price_when_unknown(
    redis, redis_prefix
):
    writer = cache_for(redis, redis_prefix, cost_per_call_usd=0.02)
    reader = cache_for(redis, redis_prefix, cost_per_call_usd=0.02)
    priced = {"findings": [], "usage": {"calls": 0.25, "prompt_tokens": 900, "cost_usd": 0.0125}}
    unpriced = {"findings": [], "usage": None}
    await writer.set("priced", priced)
    await writer.set("unpriced", unpriced)
    await writer.get("priced")  # L1
    await reader.get("priced")  # L2, then L1 with its cost
    await reader.get("priced")
    await reader.get("unpriced")
    savings = writer.get_stats()["savings_estimate"]
    assert savings["stored_cost_saved_usd"] == pytest.approx(0.0125)
    assert savings["hits_at_flat_price"] == 0
    savings = reader.get_stats()["savings_estimate"]
    assert savings["stored_cost_saved_usd"] == pytest.approx(0.025)
    assert savings["hits_at_stored_cost"] == 2 and savings["hits_at_flat_price"] == 1
    assert savings["estimated_cost_saved_usd"] == pytest.approx(0.025 + 0.02)


async def test_a_burst_of_writes_waits_for_a_redis_connection_instead_of_failing(
    make_settings, redis_prefix
):
    from revue.common.service import ServiceRuntime
    from revue.common.settings import ServiceSettings

    settings = make_settings(ServiceSettings, redis_max_connections=8)
    runtime = ServiceRuntime(settings, configure_process=False)
    redis = runtime.use_redis()
    cache = AIResultCache(redis, CacheConfig(namespace=redis_prefix.rstrip(":"), redis_timeout=2))
    try:
        await asyncio.gather(*(cache.set(f"burst-{i}", {"i": i}) for i in range(400)))
        assert cache.l2.errors == 0
        reader = AIResultCache(redis, CacheConfig(namespace=redis_prefix.rstrip(":")))
        assert await reader.get("burst-399") == {"i": 399}
    finally:
        await redis.aclose()
