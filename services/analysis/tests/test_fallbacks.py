"""The fallback chain: a provider down or its circuit open, the next one answers.

The primary is a language model behind the hosted-model simulator (a STAND-IN: an
outage is what it is here to show); the fallback is the real builtin analyzer.
"""

import pytest
from redis.asyncio import Redis

from revue.analysis.adapters.providers.llm.chat import ChatOptions, ChatProvider
from revue.analysis.engine import AnalysisEngine
from revue.analysis.settings import AnalysisSettings
from revue.common.cache import AIResultCache, CacheConfig
from revue.common.contracts.events import RunAnalysis
from revue.common.resilience import BreakerState
from revue.devkit.standins.hosted_model import HostedModelSimulator

from .providers import FaultInjectingProvider

CODE = "import pickle\n\ndef load(blob):\n    return pickle.loads(blob)\n"


@pytest.fixture
def simulator():
    with HostedModelSimulator() as running:
        yield running


@pytest.fixture
async def cache(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    yield AIResultCache(redis, CacheConfig(namespace=redis_prefix.rstrip(":")))
    await redis.aclose()


@pytest.fixture
async def engine(simulator, builtin_provider, cache):
    primary = ChatProvider("openai", simulator.base_url, "gpt-4", options=ChatOptions(timeout=5))
    settings = AnalysisSettings(
        _env_file=None,
        retry_max_attempts=2,
        retry_initial_delay=0.001,
        retry_max_delay=0.01,
        breaker_failure_threshold=3,
        breaker_recovery_timeout=60,
        batch_max_wait=0,
    )
    engine = AnalysisEngine([primary, FaultInjectingProvider(builtin_provider)], settings, cache)
    await engine.start()
    yield engine
    await engine.lanes[0].batcher.stop(1)
    await primary.aclose()
    await engine.lanes[1].batcher.stop(1)


async def test_a_provider_out_of_retries_hands_the_request_to_the_next(engine, simulator, cache):
    simulator.script.down = True
    request = RunAnalysis(code=CODE, language="python", rules=["security"])
    answer = await engine.answer(request)
    assert answer.fallback and answer.analyzer.provider == "builtin"
    assert answer.result.analyzer == "revue-builtin"
    assert "S301" in {finding.rule_id for finding in answer.result.findings}
    assert simulator.script.faults_given == 2  # the primary's two attempts
    # Stored under the fallback's key, never the primary's.
    assert answer.key == engine.lanes[1].key_for(request) != engine.key_for(request)
    assert await cache.get(engine.key_for(request)) is None
    assert await cache.get(answer.key) is not None


async def test_an_open_circuit_sends_requests_to_the_fallback_without_calling_the_primary(
    engine, simulator
):
    simulator.script.down = True
    for index in range(3):
        await engine.answer(RunAnalysis(code=f"{CODE}# {index}\n", language="python"))
    assert engine.breaker.state is BreakerState.OPEN
    calls = simulator.script.faults_given
    answer = await engine.answer(RunAnalysis(code=f"{CODE}# open\n", language="python"))
    assert answer.fallback and simulator.script.faults_given == calls
    # The primary's answers, once it is back, are its own again.


async def test_the_primary_answers_when_it_can_and_a_cached_fallback_answer_serves_an_outage(
    engine, simulator
):
    request = RunAnalysis(code="x = eval(input())\n", language="python", rules=["security"])
    first = await engine.answer(request)
    assert not first.fallback and first.analyzer.provider == "openai"
    assert first.result.usage is not None and first.result.usage.prompt_tokens > 0
    simulator.script.down = True
    other = RunAnalysis(code=CODE, language="python")
    by_fallback = await engine.answer(other)
    again = await engine.answer(other)  # the primary still down: the fallback's cached answer
    assert again.from_cache and again.fallback and again.key == by_fallback.key
