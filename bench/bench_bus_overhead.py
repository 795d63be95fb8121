"""What the bus costs, and what the cache saves, against a bare FastAPI POST.

Three paths in one run: a bare FastAPI POST; the gateway with the result
cache off for the request (every call goes gateway -> NATS -> analysis ->
reply); the gateway answering a cached request (no NATS).

The analysis service runs with a no-op provider, so the difference between
the two is the whole Revue path without the analyzer: authentication, rate
limiting, the NATS request/reply, the analysis service's handler, batching
and outcome recording. Both servers run as single uvicorn processes, loaded
by wrk from its own process, in the same run.

    .venv/bin/python bench/bench_bus_overhead.py [--seconds 10]
"""

import argparse
import asyncio
import os
import sys
import urllib.request
import uuid

from infra import bench_environment, bench_token
from load import wrk_post

from revue.common.embedded.probes import free_port

BODY = {"code": "def handler(x):\n    return x + 1\n", "language": "python"}


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


async def wait_ready(url: str) -> None:
    for _ in range(600):
        if await asyncio.to_thread(ready, url):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(url)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    async with bench_environment(migrate=("revue.gateway", "revue.analysis")) as env:
        cached_port, bus_port, analysis_port, bare_port = (free_port() for _ in range(4))
        env = {
            **env,
            "ANALYSIS_PORT": str(analysis_port),
            "JWT_SECRET": uuid.uuid4().hex * 2,
            "RATE_LIMIT_PER_MINUTE": "100000000",
            "RATE_LIMIT_BURST": "100000000",
            "LOG_LEVEL": "WARNING",
        }
        no_cache = {"CACHE_ENABLED": "false"}
        commands = [
            ([sys.executable, "bench/noop_analysis.py"], no_cache),
            ([sys.executable, "-m", "revue.gateway"], {"GATEWAY_PORT": str(cached_port)}),
            ([sys.executable, "-m", "revue.gateway"], {"GATEWAY_PORT": str(bus_port), **no_cache}),
            ([sys.executable, "bench/bare_fastapi.py", str(bare_port)], {}),
        ]
        processes = [
            await asyncio.create_subprocess_exec(*command, env={**env, **extra})
            for command, extra in commands
        ]
        try:
            for port in (analysis_port, cached_port, bus_port):
                await wait_ready(f"http://127.0.0.1:{port}/readyz")
            await wait_ready(f"http://127.0.0.1:{bare_port}/docs")
            # One user for both gateways (same database and JWT secret).
            token = await bench_token(f"http://127.0.0.1:{cached_port}")
            auth = {"Authorization": f"Bearer {token}"}
            targets = {
                "bare FastAPI POST": (f"http://127.0.0.1:{bare_port}/api/v1/analyze", {}),
                "gateway -> NATS -> analysis": (
                    f"http://127.0.0.1:{bus_port}/api/v1/analyze",
                    auth,
                ),
                "gateway, cached": (f"http://127.0.0.1:{cached_port}/api/v1/analyze", auth),
            }
            results = {}
            connection_counts = os.environ.get("BENCH_CONNECTIONS", "1,64").split(",")
            for connections in (int(count) for count in connection_counts):
                for name, (url, headers) in targets.items():
                    await asyncio.to_thread(wrk_post, url, BODY, headers, 8, 2)  # warm
                    results[(name, connections)] = await asyncio.to_thread(
                        wrk_post, url, BODY, headers, connections, args.seconds
                    )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                await process.wait()
    report(results)


def report(results: dict) -> None:
    header = ("path", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx")
    print("{:<30} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8}".format(*header))
    for (name, connections), r in results.items():
        failures = r.non_2xx + r.errors
        print(
            f"{name:<30} {connections:>5} {r.requests_per_s:>9.0f} {r.p50_ms:>8.2f}"
            f" {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} {failures:>8}"
        )
    bare, bus, cached = "bare FastAPI POST", "gateway -> NATS -> analysis", "gateway, cached"
    if (bare, 1) in results:  # BENCH_CONNECTIONS may leave a column out
        added = results[(bus, 1)].p50_ms - results[(bare, 1)].p50_ms
        print(f"bus: added p50 latency (1 connection) {added:.2f} ms (target <= 1 ms)")
    if (bare, 64) in results:
        bare64, bus64, cached64 = (results[(name, 64)] for name in (bare, bus, cached))
        print(
            "bus: throughput ratio (64 connections) "
            f"{bus64.requests_per_s / bare64.requests_per_s:.2f} (target >= 0.5)"
        )
        print(
            f"cached: throughput ratio (64 connections) "
            f"{cached64.requests_per_s / bare64.requests_per_s:.2f} (target >= 0.75), "
            f"p99 {cached64.p99_ms:.2f} ms (target <= 10 ms)"
        )


if __name__ == "__main__":
    asyncio.run(main())
