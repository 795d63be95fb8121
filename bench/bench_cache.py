"""The result cache: tier latencies, and provider calls saved on a Zipf workload.

1. L1 hit p99 and L2 hit p50, in-process, on the configured (or embedded) Redis.
2. 10,000 requests over 2,000 distinct snippets drawn Zipf(s=1.1), 64 at a
   time through the analysis engine (cache + coalescing + batching) with the
   builtin analyzer: provider calls made vs distinct snippets requested.

    .venv/bin/python bench/bench_cache.py
"""

import asyncio
import os
import random
import statistics
import time
import uuid

from infra import ROOT
from redis.asyncio import Redis

from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.analysis.engine import AnalysisEngine
from revue.analysis.settings import AnalysisSettings
from revue.common.cache import AIResultCache, CacheConfig
from revue.common.contracts.events import RunAnalysis
from revue.devkit.embedded import resolve_infrastructure

SNIPPET = "import os\n\ndef handler_{i}(x):\n    os.system(x)\n    return eval(x)\n"


class CountingProvider:
    """The builtin analyzer, counting the inputs it is asked to analyse."""

    def __init__(self, inner: BuiltinProvider) -> None:
        self.inner = inner
        self.name, self.version, self.model = inner.name, inner.version, inner.model
        self.inputs = 0

    async def analyze_batch(self, items):
        self.inputs += len(items)
        return await self.inner.analyze_batch(items)

    async def aclose(self) -> None:
        await self.inner.aclose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def tier_latencies(redis: Redis, namespace: str) -> None:
    cache = AIResultCache(redis, CacheConfig(namespace=namespace))
    value = {"findings": [{"rule_id": "S307", "line": 3}] * 5}
    await cache.set("hot", value)
    l1 = []
    for _ in range(20_000):
        started = time.perf_counter_ns()
        await cache.get("hot")
        l1.append((time.perf_counter_ns() - started) / 1000)
    reader = AIResultCache(redis, CacheConfig(namespace=namespace, l1_max_entries=1))
    l2 = []
    for _ in range(2_000):
        reader.l1.clear()  # force the L2 path every time
        started = time.perf_counter_ns()
        assert await reader.get("hot") is not None
        l2.append((time.perf_counter_ns() - started) / 1000)
    print(
        f"L1 hit: p50 {statistics.median(l1):.1f} us, p99 {percentile(l1, 0.99):.1f} us"
        " (target p99 <= 20 us)"
    )
    l2_p50, l2_p99 = statistics.median(l2) / 1000, percentile(l2, 0.99) / 1000
    print(f"L2 hit: p50 {l2_p50:.3f} ms, p99 {l2_p99:.3f} ms (target p50 <= 0.5 ms)")


async def zipf_workload(redis: Redis, namespace: str) -> None:
    rng = random.Random(42)
    weights = [1 / (rank**1.1) for rank in range(1, 2_001)]
    draws = rng.choices(range(2_000), weights=weights, k=10_000)
    distinct = len(set(draws))
    provider = CountingProvider(BuiltinProvider(processes=2))
    cache = AIResultCache(redis, CacheConfig(namespace=namespace))
    engine = AnalysisEngine(provider, AnalysisSettings(_env_file=None), cache)
    await engine.start()
    queue = list(draws)
    started = time.perf_counter()

    async def caller() -> None:
        while queue:
            i = queue.pop()
            await engine.analyze(
                RunAnalysis(code=SNIPPET.format(i=i), language="python", timeout_s=120)
            )

    await asyncio.gather(*(caller() for _ in range(64)))
    elapsed = time.perf_counter() - started
    await engine.stop()
    saved = 1 - provider.inputs / len(draws)
    print(
        f"Zipf(1.1): {len(draws)} requests, {distinct} distinct snippets, provider calls "
        f"{provider.inputs} ({saved:.1%} saved), {len(draws) / elapsed:,.0f} req/s; "
        f"computed twice: {provider.inputs - distinct}"
    )


async def main() -> None:
    infra = await asyncio.to_thread(
        resolve_infrastructure, os.environ, ROOT / ".revue" / "bench", ("redis",)
    )
    redis = Redis.from_url(infra.urls["redis"])
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    try:
        await tier_latencies(redis, namespace + "a")
        await zipf_workload(redis, namespace + "b")
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{namespace}*")]
        if keys:
            await redis.unlink(*keys)
        await redis.aclose()
        infra.stop()


if __name__ == "__main__":
    asyncio.run(main())
