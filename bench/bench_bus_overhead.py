"""What the bus costs, and what the cache saves, against a bare FastAPI POST.

Three paths in one run: a bare FastAPI POST; the gateway with the result
cache off for the request (every call goes gateway -> NATS -> analysis ->
reply); the gateway answering a cached request (no NATS). A fourth, uvicorn
with an ASGI app that does nothing (`raw_asgi.py`), is the floor: no Python
server on this machine answers faster than that.

The analysis service runs with a no-op provider, so the difference between
the two is the whole Revue path without the analyzer: authentication, rate
limiting, the NATS request/reply, the analysis service's handler, batching
and outcome recording. Both servers run as single uvicorn processes, loaded
by wrk from its own process, in the same run.

    .venv/bin/python bench/bench_bus_overhead.py [--seconds 10] [--rounds 3]
"""

import argparse
import asyncio
import os
import sys
import urllib.request
import uuid

from infra import bench_environment, bench_token
from load import wrk_post

from revue.devkit.embedded.probes import free_port

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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    async with bench_environment(migrate=("revue.gateway", "revue.analysis")) as env:
        cached_port, bus_port, analysis_port, bare_port, raw_port = (free_port() for _ in range(5))
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
            ([sys.executable, "bench/raw_asgi.py", str(raw_port)], {}),
        ]
        processes = [
            await asyncio.create_subprocess_exec(*command, env={**env, **extra})
            for command, extra in commands
        ]
        try:
            for port in (analysis_port, cached_port, bus_port):
                await wait_ready(f"http://127.0.0.1:{port}/readyz")
            await wait_ready(f"http://127.0.0.1:{bare_port}/docs")
            await wait_ready(f"http://127.0.0.1:{raw_port}/")
            # One user for both gateways (same database and JWT secret).
            token = await bench_token(f"http://127.0.0.1:{cached_port}")
            auth = {"Authorization": f"Bearer {token}"}
            targets = {
                "uvicorn floor (no app)": (f"http://127.0.0.1:{raw_port}/", {}),
                "bare FastAPI POST": (f"http://127.0.0.1:{bare_port}/api/v1/analyze", {}),
                "gateway -> NATS -> analysis": (
                    f"http://127.0.0.1:{bus_port}/api/v1/analyze",
                    auth,
                ),
                "gateway, cached": (f"http://127.0.0.1:{cached_port}/api/v1/analyze", auth),
            }
            results: dict[tuple[str, int], list] = {}
            connection_counts = os.environ.get("BENCH_CONNECTIONS", "1,64").split(",")
            for connections in (int(count) for count in connection_counts):
                for url, headers in targets.values():
                    await asyncio.to_thread(wrk_post, url, BODY, headers, 8, 2)  # warm
                # Rounds interleave the paths, so a slow spell of this shared
                # machine falls on all of them; each figure is the median round.
                for _ in range(args.rounds):
                    for name, (url, headers) in targets.items():
                        results.setdefault((name, connections), []).append(
                            await asyncio.to_thread(
                                wrk_post, url, BODY, headers, connections, args.seconds
                            )
                        )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                await process.wait()
    report(results)


def median_round(rounds: list) -> object:
    return sorted(rounds, key=lambda r: r.requests_per_s)[len(rounds) // 2]


def ratios(results: dict, path: str, baseline: str, connections: int) -> list[float]:
    """Per-round throughput ratios (each round ran both paths back to back)."""
    pairs = zip(results[(path, connections)], results[(baseline, connections)], strict=True)
    return sorted(p.requests_per_s / b.requests_per_s for p, b in pairs)


def report(results: dict) -> None:
    header = ("path", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx")
    print("{:<30} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8}".format(*header))
    for (name, connections), rounds in results.items():
        r = median_round(rounds)
        failures = sum(x.non_2xx + x.errors for x in rounds)
        print(
            f"{name:<30} {connections:>5} {r.requests_per_s:>9.0f} {r.p50_ms:>8.2f}"
            f" {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} {failures:>8}"
        )
    bare, bus, cached = "bare FastAPI POST", "gateway -> NATS -> analysis", "gateway, cached"
    if (bare, 1) in results:  # BENCH_CONNECTIONS may leave a column out
        added = [
            b.p50_ms - a.p50_ms for a, b in zip(results[(bare, 1)], results[(bus, 1)], strict=True)
        ]
        print(
            f"bus: added p50 latency (1 connection) {sorted(added)[len(added) // 2]:.2f} ms"
            " (target <= 1 ms)"
        )
    if (bare, 64) in results:
        for path, target in ((bus, "0.5"), (cached, "0.75")):
            each = ratios(results, path, bare, 64)
            print(
                f"{path}: throughput ratio (64 connections) median {each[len(each) // 2]:.2f}"
                f" (rounds {', '.join(f'{r:.2f}' for r in each)}; target >= {target})"
            )
        p99 = sorted(r.p99_ms for r in results[(cached, 64)])
        print(f"cached: p99 at 64 connections median {p99[len(p99) // 2]:.2f} ms (target <= 10 ms)")


if __name__ == "__main__":
    asyncio.run(main())
