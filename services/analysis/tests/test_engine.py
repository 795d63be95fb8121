"""The request path: coalescing, batching, retry and the breaker, on the real analyzer."""

import asyncio

import pytest

from revue.analysis.engine import AnalysisEngine
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.errors import CircuitOpenError, RetryExhaustedError
from revue.common.contracts.events import RunAnalysis
from revue.common.resilience import BreakerState

from .providers import FaultInjectingProvider

CODE = "import os\n\ndef f(x):\n    return eval(x)\n"


def engine_with(provider, **overrides) -> AnalysisEngine:
    settings = AnalysisSettings(
        _env_file=None,
        retry_initial_delay=0.001,
        retry_max_delay=0.01,
        breaker_recovery_timeout=0.2,
        **overrides,
    )
    return AnalysisEngine(provider, settings)


@pytest.fixture
async def provider(builtin_provider):
    return FaultInjectingProvider(builtin_provider)


async def test_identical_inflight_requests_share_one_provider_call(provider):
    engine = engine_with(provider)
    await engine.start()
    try:
        requests = [RunAnalysis(code=CODE, language="python") for _ in range(100)]
        results = await asyncio.gather(*(engine.analyze(r) for r in requests))
    finally:
        await engine.stop()
    assert provider.calls == 1
    assert provider.batch_sizes == [1]
    assert len({r.model_dump_json() for r in results}) == 1
    assert {f.rule_id for f in results[0].findings} >= {"F401", "S307"}
    assert engine.flights.shared == 99


async def test_distinct_concurrent_requests_are_batched(provider):
    engine = engine_with(provider, batch_max_size=16, batch_max_wait=0.05)
    await engine.start()
    try:
        requests = [RunAnalysis(code=f"{CODE}\nx = {i}\n", language="python") for i in range(64)]
        await asyncio.gather(*(engine.analyze(r) for r in requests))
    finally:
        await engine.stop()
    assert sum(provider.batch_sizes) == 64
    assert max(provider.batch_sizes) == 16
    assert engine.batcher.get_metrics()["avg_batch_size"] >= 8


async def test_batching_disabled_sends_each_request_alone(provider):
    engine = engine_with(provider, batching_enabled=False)
    await engine.start()
    try:
        requests = [RunAnalysis(code=f"{CODE}\nx = {i}\n", language="python") for i in range(8)]
        await asyncio.gather(*(engine.analyze(r) for r in requests))
    finally:
        await engine.stop()
    assert provider.batch_sizes == [1] * 8


async def test_transient_provider_failures_are_retried(provider):
    provider.fail_next = 2
    engine = engine_with(provider, retry_max_attempts=3)
    await engine.start()
    try:
        result = await engine.analyze(RunAnalysis(code=CODE, language="python"))
    finally:
        await engine.stop()
    assert provider.calls == 3
    assert result.findings


async def test_a_retry_resends_only_the_items_that_failed(provider):
    codes = [f"{CODE}\nx = {i}\n" for i in range(8)]
    provider.fail_items_once = {codes[2], codes[5]}
    engine = engine_with(provider, batch_max_size=8, batch_max_wait=0.05, retry_max_attempts=3)
    await engine.start()
    try:
        results = await asyncio.gather(
            *(engine.analyze(RunAnalysis(code=code, language="python")) for code in codes)
        )
    finally:
        await engine.stop()
    assert all(result.findings for result in results)
    assert provider.batch_sizes == [8, 2]
    assert sorted(provider.analyzed[8:]) == sorted([codes[2], codes[5]])


async def test_exhausted_retries_then_open_breaker_fail_fast_then_recovery(provider):
    provider.always_fail = True
    engine = engine_with(provider, retry_max_attempts=2, breaker_failure_threshold=4)
    await engine.start()
    try:
        for i in range(2):
            with pytest.raises(RetryExhaustedError) as caught:
                await engine.analyze(RunAnalysis(code=f"{CODE}#{i}", language="python"))
            assert caught.value.attempts == 2
        assert engine.breaker.state is BreakerState.OPEN
        calls = provider.calls
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(CircuitOpenError) as open_error:
            await engine.analyze(RunAnalysis(code=f"{CODE}#open", language="python"))
        assert loop.time() - started < 0.05
        assert provider.calls == calls  # failing fast: the provider was not called
        assert open_error.value.retry_after_s > 0

        provider.always_fail = False
        await asyncio.sleep(0.25)  # the breaker's recovery_timeout (0.2 s) must pass
        for i in range(3):  # half-open probes succeed, the circuit closes
            await engine.analyze(RunAnalysis(code=f"{CODE}#heal{i}", language="python"))
        assert engine.breaker.state is BreakerState.CLOSED
    finally:
        await engine.stop()


async def test_a_request_timeout_bounds_only_that_caller(builtin_provider):
    slow = FaultInjectingProvider(builtin_provider, delay=0.3)
    engine = engine_with(slow)
    await engine.start()
    try:
        patient = asyncio.create_task(
            engine.analyze(RunAnalysis(code=CODE, language="python", timeout_s=5))
        )
        with pytest.raises(TimeoutError):
            await engine.analyze(RunAnalysis(code=CODE, language="python", timeout_s=0.05))
        assert (await patient).findings  # the shared call went on for the patient caller
    finally:
        await engine.stop()
    assert slow.calls == 1


def test_cache_key_changes_with_every_output_affecting_parameter(provider):
    engine = engine_with(provider)
    base = RunAnalysis(code=CODE, language="python", rules=["security"], max_issues=10)
    keys = {
        engine.key_for(base),
        engine.key_for(base.model_copy(update={"code": CODE + "\n"})),
        engine.key_for(base.model_copy(update={"rules": ["quality"]})),
        engine.key_for(base.model_copy(update={"max_issues": 11})),
        engine.key_for(base.model_copy(update={"language": "javascript"})),
    }
    assert len(keys) == 5
    assert engine.key_for(base.model_copy(update={"priority": "high"})) == engine.key_for(base)


async def test_results_go_through_the_cache_and_failures_do_not(provider, redis_url, redis_prefix):
    from redis.asyncio import Redis

    from revue.common.cache import AIResultCache, CacheConfig

    redis = Redis.from_url(redis_url)
    cache = AIResultCache(redis, CacheConfig(namespace=redis_prefix.rstrip(":")))
    engine = AnalysisEngine(
        provider,
        AnalysisSettings(_env_file=None, retry_max_attempts=1, retry_initial_delay=0.001),
        cache,
    )
    await engine.start()
    try:
        request = RunAnalysis(code=CODE, language="python")
        first = await engine.analyze(request)
        again = await engine.analyze(RunAnalysis(code=CODE, language="python"))
        assert again == first
        assert provider.calls == 1
        assert await cache.get(engine.key_for(request)) is not None
        provider.fail_next = 1
        failing = RunAnalysis(code=CODE + "# other\n", language="python")
        with pytest.raises(RetryExhaustedError):
            await engine.analyze(failing)
        assert await cache.get(engine.key_for(failing)) is None
    finally:
        await engine.stop()
        await redis.aclose()
