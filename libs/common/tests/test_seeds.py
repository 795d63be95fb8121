"""The seeds' own examples (000, 001), run as their users wrote them, against revue.common.seeds.

Only the import lines differ from the documents (`backend.shared...` ->
`revue.common.seeds`); everything else is the seed's code and assertions.
"""

import asyncio

import pytest
from redis.asyncio import Redis

from revue.common.cache import AIResultCache, CacheConfig
from revue.common.seeds import (
    BatchConfig,
    BatchProcessor,
    CacheKeyGenerator,
    RateLimiter,
    RetryExhaustedError,
    cached_ai_call,
    get_ai_cache,
    get_all_metrics,
    get_batch_processor,
    register_ai_cache,
    register_batch_processor,
    retry,
)


async def test_seed_000_batch_processor_example():
    async def mock_handler(items):
        await asyncio.sleep(0.1)  # Simulate processing
        return [{"result": item * 2} for item in items]

    config = BatchConfig(max_batch_size=10, max_wait_time=0.1)
    processor = BatchProcessor(mock_handler, config)
    await processor.start()
    results = await asyncio.gather(*[processor.process(i) for i in range(50)])
    assert len(results) == 50
    assert results[0] == {"result": 0}
    assert results[49] == {"result": 98}
    metrics = processor.get_metrics()
    assert metrics["total_requests"] == 50
    assert metrics["total_batches"] == 5  # 50 / 10 = 5 batches
    assert metrics["avg_batch_size"] == 10.0
    await processor.stop()


async def test_seed_000_registry_gives_the_registered_processor_and_all_metrics():
    async def double(items):
        return [item * 2 for item in items]

    processor = BatchProcessor(double, BatchConfig(max_batch_size=10, max_wait_time=0.05))
    await processor.start()
    register_batch_processor("seed_example", processor)
    try:
        batcher = get_batch_processor("seed_example")
        assert await batcher.process(21) == 42
        assert get_all_metrics()["seed_example"]["total_requests"] == 1
        with pytest.raises(KeyError, match="no batch processor named 'missing'"):
            get_batch_processor("missing")
    finally:
        await processor.stop()


async def test_seed_000_retry_examples():
    attempt_count = 0

    @retry(max_attempts=3, initial_delay=0.1)
    async def flaky_function():
        nonlocal attempt_count
        attempt_count += 1
        if attempt_count < 3:
            raise Exception("Transient error")
        return "success"

    result = await flaky_function()
    assert result == "success"
    assert attempt_count == 3

    @retry(max_attempts=3, initial_delay=0.1)
    async def always_fails():
        raise Exception("Permanent error")

    with pytest.raises(RetryExhaustedError) as exc_info:
        await always_fails()
    assert exc_info.value.attempts == 3


def test_seed_001_cache_key_example():
    key = CacheKeyGenerator.generate_analysis_key(
        code="def hello(): pass", language="python", rules=["security", "quality"], model="gpt-4"
    )
    prefix, kind, version, code_hash, params_hash = key.split(":")
    assert (prefix, kind, version) == ("ai", "analysis", "v1")
    assert code_hash and params_hash
    other_model = CacheKeyGenerator.generate_analysis_key(
        code="def hello(): pass", language="python", rules=["security", "quality"], model="gpt-5"
    )
    assert other_model != key  # the model is part of the key


async def test_seed_001_ai_cache_usage_example(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    register_ai_cache(AIResultCache(redis, CacheConfig(namespace=redis_prefix.rstrip(":"))))
    calls = 0

    class AiService:
        async def analyze(self, code, language, rules):
            nonlocal calls
            calls += 1
            return {"findings": [{"rule": "S307", "line": 1}], "language": language}

    ai_service = ai_client = AiService()
    code, language, rules = "eval(input())", "python", ["security"]
    try:
        cache = get_ai_cache()
        # Direct usage
        result = await cache.get_analysis(code, language, rules)
        if result is None:
            result = await ai_service.analyze(code, language, rules)
            await cache.set_analysis(code, language, rules, result)
        assert await cache.get_analysis(code, language, rules) == result

        # Decorator usage
        @cached_ai_call(cache, "analysis", ttl=86400)
        async def analyze_code(code: str, language: str) -> dict:
            return await ai_client.analyze(code, language, [])

        first = await analyze_code("print(1)", "python")
        second = await analyze_code("print(1)", "python")
        assert first == second and calls == 2  # the decorated repeat came from the cache

        stats = cache.get_stats()
        assert {"global", "savings_estimate", "l1", "l2"} <= stats.keys()
        assert stats["global"]["hits"] >= 2
        assert stats["savings_estimate"]["ai_calls_saved"] >= 2
    finally:
        await redis.aclose()


async def test_seed_001_rate_limiter_example():
    limiter = RateLimiter(rate=100, burst=200)
    processed = 0

    async def process_task():
        nonlocal processed
        processed += 1

    async def process_with_limit():
        if await limiter.acquire():
            await process_task()
        else:
            await asyncio.sleep(0.01)  # Backoff

    await asyncio.gather(*(process_with_limit() for _ in range(250)))
    assert processed == 250  # 200 at once, the rest as tokens come back
