"""End to end through the gateway: a mixed Zipf workload at increasing concurrency.

The gateway, analysis and cache services run as real processes on the
configured (or embedded) servers. wrk, in its own process, sends a mix drawn
from 20,000 distinct snippets with Zipf(s=1.1) popularity: 70 % synchronous
`POST /api/v1/analyze` (repeats are cache hits, first sightings go over NATS
to the builtin analyzer) and 30 % asynchronous `POST /api/v1/analyses` (202,
the job queued on JetStream). Each concurrency level runs for `--seconds`;
throughput and p50 / p95 / p99 latency are printed, with the share of
synchronous requests answered from the cache, and plotted against load into
bench/end_to_end_latency.png.

    .venv/bin/python bench/bench_end_to_end.py [--seconds 10] [--levels 1,4,16,64]
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time

import httpx
from infra import ROOT, bench_environment, bench_token
from load import wrk_report
from prometheus_client.parser import text_string_to_metric_families

from revue.devkit.embedded.probes import free_port
from revue.devkit.suite import ready

PLOT = ROOT / "bench" / "end_to_end_latency.png"
SNIPPETS, ZIPF_S, TABLE = 20_000, 1.1, 4_000
RELAXED = {
    "JWT_SECRET": "bench-secret-" + "z" * 40,
    "RATE_LIMIT_PER_MINUTE": "10000000",
    "RATE_LIMIT_BURST": "1000000",
    "RATE_LIMIT_ANONYMOUS_PER_MINUTE": "10000000",
    "RATE_LIMIT_ANONYMOUS_BURST": "1000000",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST_KIB": "8192",
}

# wrk picks each request from a pre-drawn table (Zipf draws of snippet ids),
# and reports its own percentiles as JSON at the end.
WRK_SCRIPT = """
local token = "%(token)s"
local table_ = {%(table)s}
local async_share = %(async_share)f
local counter = 0
local statuses = {}
math.randomseed(%(seed)d)
request = function()
  counter = counter + 1
  local id = table_[math.random(#table_)]
  local path = "/api/v1/analyze"
  if math.random() < async_share then path = "/api/v1/analyses" end
  local body = '{"language":"python","code":"import os\\\\ndef handler_' .. id ..
    '(x):\\\\n    os.system(x)\\\\n    return eval(x)\\\\n"}'
  return wrk.format("POST", path,
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local codes = {}
  for status, count in pairs(statuses) do codes[#codes + 1] = '"' .. status .. '":' .. count end
  io.write(string.format(
    'RESULT {"requests":%%d,"seconds":%%f,"p50":%%f,"p95":%%f,"p99":%%f,"errors":%%d,' ..
    '"statuses":{%%s}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status, table.concat(codes, ",")))
end
"""


def zipf_table(rng: random.Random) -> list[int]:
    weights = [1 / (rank**ZIPF_S) for rank in range(1, SNIPPETS + 1)]
    return rng.choices(range(SNIPPETS), weights=weights, k=TABLE)


def run_wrk(url: str, token: str, connections: int, seconds: int, seed: int) -> dict:
    script = WRK_SCRIPT % {
        "token": token,
        "table": ",".join(map(str, zipf_table(random.Random(seed)))),
        "async_share": 0.3,
        "seed": seed,
    }
    report = wrk_report(url, script, connections, seconds, options=["--timeout", "30s"])
    line = next(line for line in report.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def cache_counts(url: str) -> tuple[float, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    hits = misses = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "cache_hits_total":
                hits += sample.value
            elif sample.name == "cache_misses_total":
                misses += sample.value
    return hits, misses


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, latency = plt.subplots(figsize=(8, 5))
    load = [row["connections"] for row in rows]
    for key, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^:")):
        latency.plot(load, [row[key] for row in rows], style, label=f"{key} latency")
    latency.set_xscale("log", base=2)
    latency.set_yscale("log")
    latency.set_xlabel("concurrent connections (wrk)")
    latency.set_ylabel("latency (ms)")
    throughput = latency.twinx()
    throughput.plot(load, [row["rps"] for row in rows], "k-", alpha=0.4, label="requests/s")
    throughput.set_ylabel("requests/s")
    handles = latency.get_legend_handles_labels()[0] + throughput.get_legend_handles_labels()[0]
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.12, 0.88))
    latency.set_title("Revue end to end: 70 % sync / 30 % async, Zipf(1.1) over 20k snippets")
    figure.tight_layout()
    figure.savefig(PLOT, dpi=110)


def start_services(env: dict[str, str]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen([sys.executable, "-m", f"revue.{name}"], env=env)
        for name in ("analysis", "cache", "gateway")
    ]


async def main(seconds: int, levels: list[int]) -> None:
    async with bench_environment(migrate=("revue.gateway", "revue.analysis")) as env:
        ports = {name: free_port() for name in ("analysis", "cache", "gateway")}
        env = {
            **env,
            **RELAXED,
            "ANALYSIS_PORT": str(ports["analysis"]),
            "CACHE_PORT": str(ports["cache"]),
            "GATEWAY_PORT": str(ports["gateway"]),
            "DB_QUERY_EVENTS_ENABLED": "false",
        }
        processes = await asyncio.to_thread(start_services, env)
        try:
            for port in ports.values():
                deadline = time.monotonic() + 90
                while not ready(port):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"port {port} not ready")
                    await asyncio.sleep(0.2)
            gateway = f"http://127.0.0.1:{ports['gateway']}"
            token = await bench_token(gateway)
            rows = []
            print(
                f"{'conn':>5} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
                f"{'cache hits':>10} {'non-2xx':>8} {'errors':>6}"
            )
            for seed, connections in enumerate(levels, start=1):
                hits0, misses0 = await asyncio.to_thread(cache_counts, gateway)
                result = await asyncio.to_thread(
                    run_wrk, gateway, token, connections, seconds, seed
                )
                hits1, misses1 = await asyncio.to_thread(cache_counts, gateway)
                reads = (hits1 - hits0) + (misses1 - misses0)
                non_2xx = sum(
                    count for status, count in result["statuses"].items() if int(status) >= 300
                )
                row = {
                    "connections": connections,
                    "rps": result["requests"] / result["seconds"],
                    "p50": result["p50"],
                    "p95": result["p95"],
                    "p99": result["p99"],
                    "hit_share": (hits1 - hits0) / reads if reads else 0.0,
                    "non_2xx": non_2xx,
                    "errors": result["errors"],
                }
                rows.append(row)
                print(
                    f"{connections:>5} {row['rps']:>8.1f} {row['p50']:>8.2f} {row['p95']:>8.2f} "
                    f"{row['p99']:>8.2f} {row['hit_share']:>10.1%} {non_2xx:>8} {row['errors']:>6}",
                    flush=True,
                )
            plot(rows)
            print(f"plot: {PLOT.relative_to(ROOT)}")
        finally:
            for process in processes:
                process.terminate()
            await asyncio.to_thread(lambda: [process.wait(60) for process in processes])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--levels", default="1,4,16,64")
    arguments = parser.parse_args()
    os.chdir(ROOT)
    asyncio.run(main(arguments.seconds, [int(n) for n in arguments.levels.split(",")]))
