"""Query-result cache: hit latency of `execute_query` vs running the query, same run.

One of the demo workload's queries (a project's sessions by status, newest
first, on the seeded schema) is run through `QueryResultCache.execute_query`:
`--calls` times uncached (use_cache=False), then `--calls` times cached over
`--keys` distinct arguments (the first call per key misses, the rest hit L1).
Prints p50 / p99 of each and the speed-up; target: hit p99 <= 1 ms.

    .venv/bin/python bench/bench_query_cache.py [--sessions 100000] [--calls 5000] [--keys 50]
"""

import argparse
import asyncio
import statistics
import time

import asyncpg
from infra import bench_environment
from redis.asyncio import Redis

from revue.common.cache.l2 import L2RedisCache
from revue.common.db.engine import asyncpg_dsn, create_engine
from revue.common.settings import ServiceSettings
from revue.query_optimizer.demo_schema import create_and_seed
from revue.query_optimizer.query_cache import QueryResultCache

QUERY = (
    "SELECT id, status, created_at FROM analysis_sessions "
    "WHERE project_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20"
)


def quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


async def main(sessions: int, calls: int, keys: int) -> None:
    async with bench_environment() as env:
        connection = await asyncpg.connect(asyncpg_dsn(env["DATABASE_URL"]))
        await create_and_seed(connection, sessions)
        await connection.execute(
            "CREATE INDEX ON analysis_sessions (project_id, status, created_at)"
        )
        await connection.close()
        engine = create_engine(ServiceSettings(_env_file=None), env["DATABASE_URL"])
        redis = Redis.from_url(env["REDIS_URL"])
        cache = QueryResultCache(engine, L2RedisCache(redis, f"bench{time.time_ns()}"))
        arguments = [[1 + n, "completed"] for n in range(keys)]

        async def timed(use_cache: bool) -> list[float]:
            samples = []
            for number in range(calls):
                started = time.perf_counter()
                await cache.execute_query(QUERY, arguments[number % keys], use_cache=use_cache)
                samples.append((time.perf_counter() - started) * 1000)
            return samples

        await timed(False)  # warm the pool and the server's caches
        uncached = await timed(False)
        cached = await timed(True)
        hits = cached[keys:]  # the first pass over the keys filled the cache
        stats = cache.stats()
        print(f"{calls} calls over {keys} keys, {sessions:,} sessions seeded")
        p50, p99 = quantiles(uncached)
        print(f"uncached (Postgres, indexed):  p50 {p50:.3f} ms  p99 {p99:.3f} ms")
        h50, h99 = quantiles(hits)
        print(f"cache hit (L1):                p50 {h50:.3f} ms  p99 {h99:.3f} ms", end="")
        print("  (target p99 <= 1 ms)")
        print(f"speed-up at p50: {p50 / h50:.1f}x; hits {stats['hits']}, misses {stats['misses']}")
        await redis.aclose()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--keys", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sessions, arguments.calls, arguments.keys))
