"""Language models behind the whole suite: packed vs one call each, an outage, the Batch API.

Gateway, analysis and cache run as real processes. The workload: small
distinct snippets (5-40 lines) cut from real code (CPython's own `email`,
`json`, `http` and `urllib` packages), drawn with Zipf(1.1) popularity, sent as
`POST /api/v1/analyze` by 64 concurrent clients; repeats are cache hits, so
only first sightings reach the provider.

Providers, in one run:
- the hosted-model simulator (a STAND-IN for a hosted API, its own process):
  latency of a hosted small model (250 ms to the first token, 8 ms per
  completion token, 20 us per prompt token) and OpenAI's tier-1 limits for
  gpt-4o-mini (500 requests and 200,000 tokens a minute), which Revue is told
  (LLM_RPM, LLM_TPM); priced at gpt-4o-mini's list prices;
- the real local model (SmolLM2-135M under llama.cpp's server), a smaller
  workload: it answers one request at a time on this machine's two cores.

Each is run packed (LLM_PACK_MAX_ITEMS=8) and one call each (=1): provider
calls, prompt and completion tokens, cost, throughput, p50 and p95. Then the
simulator down (every call a 500) with `builtin` as the fallback, beside the
builtin analyzer alone; then `batch` priority jobs through the Batch API.

    .venv/bin/python bench/bench_llm.py [--requests 600] [--local-requests 24]
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path

import httpx
from infra import ROOT, bench_environment, bench_token
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from revue.analysis.adapters.providers.llm import wire
from revue.analysis.adapters.providers.llm.tokens import counter_for
from revue.common.cache.config import namespace_for
from revue.devkit.embedded.probes import free_port
from revue.devkit.suite import ready

CONCURRENCY, ZIPF_S = 64, 1.1
PRICES = '{"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}}'
RELAXED = {
    "JWT_SECRET": "bench-secret-" + "z" * 40,
    "RATE_LIMIT_PER_MINUTE": "10000000",
    "RATE_LIMIT_BURST": "1000000",
    "RATE_LIMIT_ANONYMOUS_PER_MINUTE": "10000000",
    "RATE_LIMIT_ANONYMOUS_BURST": "1000000",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST_KIB": "8192",
    "DB_QUERY_EVENTS_ENABLED": "false",
    "LOG_LEVEL": "WARNING",
}


def snippets(count: int, seed: int = 7) -> list[str]:
    """Distinct windows of 5-40 lines of CPython's own library code."""
    library = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        path
        for package in ("email", "json", "http", "urllib")
        for path in (library / package).glob("*.py")
    )
    rng = random.Random(seed)
    found: list[str] = []
    seen: set[str] = set()
    while len(found) < count:
        lines = rng.choice(files).read_text(errors="replace").splitlines()
        size = rng.randint(5, 40)
        start = rng.randrange(max(1, len(lines) - size))
        text = "\n".join(lines[start : start + size]).strip("\n") + "\n"
        if text.strip() and text not in seen and len(text) > 40:
            seen.add(text)
            found.append(text)
    return found


def zipf_draws(distinct: int, requests: int, seed: int) -> list[int]:
    weights = [1 / rank**ZIPF_S for rank in range(1, distinct + 1)]
    return random.Random(seed).choices(range(distinct), weights=weights, k=requests)


def metric(url: str, name: str, **labels: str) -> float:
    total = 0.0
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def drive(gateway: str, token: str, codes: list[str], draws: list[int]) -> dict:
    """Every draw sent by CONCURRENCY clients; latencies and statuses."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()  # what a client that got no result was told
    queue = iter(draws)
    headers = {"Authorization": f"Bearer {token}"}

    async def client_loop(client: httpx.AsyncClient) -> None:
        for index in queue:
            started = time.perf_counter()
            try:
                answer = await client.post(
                    "/api/v1/analyze",
                    json={"code": codes[index], "language": "python", "timeout": 300},
                    headers=headers,
                )
                status = answer.status_code
                if status >= 400:
                    errors[answer.text[:200]] += 1
            except httpx.TransportError:  # counted as a failure the client saw, status 0
                status = 0
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1

    started = time.perf_counter()
    # Idle pooled connections are dropped before uvicorn's 5 s keep-alive closes them:
    # with equal timeouts a reuse can meet the server's close, a loss of the client's doing.
    limits = httpx.Limits(
        max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=gateway, timeout=600, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(draws),
        "seconds": elapsed,
        "rps": len(draws) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "statuses": dict(statuses),
        "errors": dict(errors),
        "distinct": len(set(draws)),
    }


class Suite:
    """gateway, analysis and cache as processes, with one provider configuration."""

    def __init__(self, env: dict[str, str], provider_env: dict[str, str]) -> None:
        self.ports = {name: free_port() for name in ("analysis", "cache", "gateway")}
        self.env = {
            **env,
            **RELAXED,
            **provider_env,
            "ANALYSIS_PORT": str(self.ports["analysis"]),
            "CACHE_PORT": str(self.ports["cache"]),
            "GATEWAY_PORT": str(self.ports["gateway"]),
        }
        self.processes: list[subprocess.Popen] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def __aenter__(self) -> "Suite":
        self.processes = await asyncio.to_thread(self._start)
        for port in self.ports.values():
            deadline = time.monotonic() + 180
            while not ready(port):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"port {port} not ready")
                await asyncio.sleep(0.2)
        return self

    def _start(self) -> list[subprocess.Popen]:
        return [
            subprocess.Popen([sys.executable, "-m", f"revue.{name}"], env=self.env)
            for name in ("analysis", "cache", "gateway")
        ]

    async def __aexit__(self, *_: object) -> None:
        for process in self.processes:
            process.terminate()
        await asyncio.to_thread(lambda: [process.wait(60) for process in self.processes])


def provider_figures(analysis: str) -> dict:
    return {
        "calls": metric(analysis, "llm_calls_total"),
        "prompt": metric(analysis, "llm_tokens_total", kind="prompt")
        + metric(analysis, "llm_tokens_total", kind="cached_prompt"),
        "completion": metric(analysis, "llm_tokens_total", kind="completion"),
        "cost": metric(analysis, "llm_cost_usd_total"),
        "misses": metric(analysis, "batch_requests_total", processor="ai_analysis"),
    }


async def forget_results(env: dict[str, str]) -> None:
    """Each run starts with an empty result cache (the last run's answers are in Redis)."""
    redis = Redis.from_url(env["REDIS_URL"])
    pattern = f"{namespace_for(env['BUS_NAMESPACE'])}:*"
    names = [name async for name in redis.scan_iter(match=pattern, count=1000)]
    if names:
        await redis.unlink(*names)
    await redis.aclose()


async def one_run(env, provider_env, codes, draws, label) -> dict:
    await forget_results(env)
    async with Suite(env, provider_env) as suite:
        gateway = suite.url("gateway")
        token = await bench_token(gateway)
        result = await drive(gateway, token, codes, draws)
        result.update(provider_figures(suite.url("analysis")))
    result["label"] = label
    return result


def show(rows: list[dict], priced: bool) -> None:
    print(
        f"  {'run':<26} {'reach':>5} {'calls':>6} {'prompt tok':>10} {'compl tok':>9} "
        f"{'cost $':>9} {'req/s':>6} {'p50 ms':>8} {'p95 ms':>8}  statuses"
    )
    for row in rows:
        cost = f"{row['cost']:.5f}" if priced else "unknown"
        print(
            f"  {row['label']:<26} {row['misses']:>5.0f} {row['calls']:>6.0f} "
            f"{row['prompt']:>10.0f} {row['completion']:>9.0f} {cost:>9} {row['rps']:>6.1f} "
            f"{row['p50']:>8.0f} {row['p95']:>8.0f}  {row['statuses']}"
        )
    for row in rows:
        for error, count in row["errors"].items():
            print(f"    {row['label']}: {count} x {error}")


def verdict(packed: dict, single: dict) -> None:
    tokens = (packed["prompt"] + packed["completion"]) / (single["prompt"] + single["completion"])
    calls_share = packed["calls"] / max(packed["misses"], 1)
    print(
        f"  calls / requests reaching the provider: {calls_share:.3f} (target <= 0.25)\n"
        f"  total tokens packed / one each: {tokens:.3f} (target <= 0.7)\n"
        f"  p95 packed / one each: {packed['p95'] / single['p95']:.3f} (target <= 1.2)"
    )


def start_simulator(*extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "revue.devkit.standins.hosted_model", "--port", str(port)]
    command += ["--base-latency-ms", "250", "--prompt-token-us", "20", "--completion-token-ms", "8"]
    command += ["--rpm", "500", "--tpm", "200000", *extra]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/models", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return process, f"{url}/v1"


def hosted(base_url: str, pack: int) -> dict[str, str]:
    return {
        "PROVIDER": "openai",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "OPENAI_API_KEY": "bench",
        "LLM_PRICES": PRICES,
        "LLM_RPM": "500",
        "LLM_TPM": "200000",
        "LLM_PACK_MAX_ITEMS": str(pack),
    }


async def main(requests: int, local_requests: int, only: str | None) -> None:
    system = counter_for("gpt-4o-mini").count(wire.SYSTEM_PROMPT)
    print(f"system prompt the product ships: {system} tokens (cl100k_base), every call:")
    print("  " + wire.SYSTEM_PROMPT)
    codes = snippets(2_000)
    async with bench_environment(migrate=("revue.gateway", "revue.analysis")) as env:
        if only != "local":
            await hosted_runs(env, codes, zipf_draws(len(codes), requests, seed=1))
        if only != "hosted":
            await local_runs(env, codes, local_requests)


async def hosted_runs(env: dict[str, str], codes: list[str], draws: list[int]) -> None:
    requests = len(draws)
    simulator, base_url = start_simulator()
    try:
        print(f"\nhosted model (simulated), {requests} requests, {CONCURRENCY} clients:")
        packed = await one_run(env, hosted(base_url, 8), codes, draws, "packed (8)")
        single = await one_run(env, hosted(base_url, 1), codes, draws, "one call each")
        show([packed, single], priced=True)
        verdict(packed, single)
    finally:
        simulator.terminate()
        simulator.wait(10)

    down, down_url = start_simulator("--down")
    try:
        print(f"\noutage: every call a 500, builtin as the fallback ({requests} requests):")
        fallback = await one_run(
            env,
            {**hosted(down_url, 8), "PROVIDER_FALLBACKS": '["builtin"]'},
            codes,
            draws,
            "model down -> builtin",
        )
        builtin = await one_run(env, {"PROVIDER": "builtin"}, codes, draws, "builtin alone")
        show([fallback, builtin], priced=True)
        server_errors = sum(
            n for status, n in fallback["statuses"].items() if status >= 500 or status == 0
        )
        print(
            f"  5xx or lost connections to clients: {server_errors} (target 0); "
            "p95 fallback / builtin alone: "
            f"{fallback['p95'] / builtin['p95']:.2f} (target <= 2)"
        )
    finally:
        down.terminate()
        down.wait(10)

    await batch_api_run(env, codes)


async def local_runs(env: dict[str, str], codes: list[str], local_requests: int) -> None:
    print(f"\nreal local model (SmolLM2-135M, llama.cpp), {local_requests} distinct requests:")
    local_draws = list(range(local_requests))
    local = {"PROVIDER": "local", "LLM_LOCAL_CONTEXT_TOKENS": "8192"}
    packed = await one_run(
        env, {**local, "LLM_PACK_MAX_ITEMS": "8"}, codes, local_draws, "packed (8)"
    )
    single = await one_run(
        env, {**local, "LLM_PACK_MAX_ITEMS": "1"}, codes, local_draws, "one call each"
    )
    show([packed, single], priced=False)
    verdict(packed, single)


async def batch_api_run(env: dict[str, str], codes: list[str], jobs: int = 400) -> None:
    simulator, base_url = start_simulator()
    try:
        provider_env = {
            **hosted(base_url, 8),
            "LLM_BATCH_API": "true",
            "LLM_BATCH_MAX_JOBS": "200",
            "LLM_BATCH_MAX_AGE_S": "2",
            "LLM_BATCH_POLL_S": "0.5",
        }
        async with Suite(env, provider_env) as suite:
            gateway = suite.url("gateway")
            token = await bench_token(gateway)
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
                for index in range(jobs):
                    body = {"code": codes[-1 - index], "language": "python", "priority": "batch"}
                    (
                        await client.post("/api/v1/analyses", json=body, headers=headers)
                    ).raise_for_status()
                analysis = suite.url("analysis")
                deadline = time.monotonic() + 300
                while metric(analysis, "analysis_jobs_total", outcome="completed") < jobs:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - started
            answered = metric(analysis, "llm_batch_api_jobs_total", outcome="answered")
            direct = metric(analysis, "llm_calls_total") - answered  # batch lines count as calls
            done = metric(analysis, "analysis_jobs_total", outcome="completed")
        print(
            f"\nBatch API: {jobs} batch-priority jobs, {done:.0f} completed in {elapsed:.1f} s "
            f"= {done / elapsed:.1f} jobs/s; {answered / max(done, 1):.1%} sent at the batch rate "
            f"({direct:.0f} chat calls besides)"
        )
    finally:
        simulator.terminate()
        simulator.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--local-requests", type=int, default=24)
    parser.add_argument("--only", choices=["hosted", "local"], help="run one model's part")
    arguments = parser.parse_args()
    os.chdir(ROOT)
    asyncio.run(main(arguments.requests, arguments.local_requests, arguments.only))
