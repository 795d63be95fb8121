"""Batching gain of the analysis engine with the builtin analyzer.

64 concurrent callers send distinct Python snippets (no two alike, so
coalescing never helps) through `AnalysisEngine` in-process. The same run
measures the configured batch size and batch size 1, and prints the
throughput ratio and the p95 wait that batching added.

    .venv/bin/python bench/bench_batching.py [--requests 3000] [--concurrency 64]
"""

import argparse
import asyncio
import statistics
import time

from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.analysis.engine import AnalysisEngine
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.events import RunAnalysis

SNIPPET = """import os
import subprocess


def handler_{i}(request, cursor):
    value = request.args.get("v{i}")
    if value is None:
        return None
    cursor.execute("SELECT * FROM t WHERE id = %s" % value)
    subprocess.call("echo " + value, shell=True)
    return os.path.join("/tmp", value)
"""


async def run(
    provider: BuiltinProvider, batch_size: int, requests: int, concurrency: int, salt: str
):
    settings = AnalysisSettings(_env_file=None, batch_max_size=batch_size)
    engine = AnalysisEngine(provider, settings)
    await engine.start()
    queue = list(range(requests))
    latencies: list[float] = []

    async def caller() -> None:
        while queue:
            i = queue.pop()
            request = RunAnalysis(
                code=SNIPPET.format(i=f"{salt}{i}"), language="python", timeout_s=120
            )
            started = time.perf_counter()
            result = await engine.analyze(request)
            latencies.append(time.perf_counter() - started)
            assert result.findings

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    metrics = engine.batcher.get_metrics()
    waits = sorted(engine.batcher.recent_batching_waits)
    await engine.batcher.stop()
    return {
        "batch_size": batch_size,
        "max_wait_ms": settings.batch_max_wait * 1000,
        "throughput": requests / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": statistics.quantiles(latencies, n=20)[18] * 1000,
        "avg_batch": metrics["avg_batch_size"],
        "p95_added_wait_ms": waits[int(len(waits) * 0.95)] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    provider = BuiltinProvider(processes=2)
    await run(provider, 32, 200, args.concurrency, "warm")  # start the worker processes
    configured = AnalysisSettings(_env_file=None).batch_max_size
    rows = [
        await run(provider, configured, args.requests, args.concurrency, "a"),
        await run(provider, 1, args.requests, args.concurrency, "b"),
    ]
    await provider.aclose()
    header = ("batch", "req/s", "p50 ms", "p95 ms", "avg batch", "p95 added wait ms")
    print("{:>5} {:>9} {:>8} {:>8} {:>9} {:>18}".format(*header))
    for row in rows:
        print(
            f"{row['batch_size']:>5} {row['throughput']:>9.0f} {row['p50_ms']:>8.1f}"
            f" {row['p95_ms']:>8.1f} {row['avg_batch']:>9.1f} {row['p95_added_wait_ms']:>18.2f}"
        )
    gain = rows[0]["throughput"] / rows[1]["throughput"]
    added, window = rows[0]["p95_added_wait_ms"], rows[0]["max_wait_ms"]
    print(
        f"batching gain: {gain:.1f}x (target >= 5x); p95 added wait {added:.2f} ms"
        f" vs max_wait {window:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
