"""A FastStream subscriber against a `Responder`, answering the same request.

Why `revue.common.bus.responder` exists: the analysis service answers
`analysis.run` while a client waits, and FastStream's per-message chain was
much of that wait. Both sides here run in one server process with the
suite's broker (`create_broker`: telemetry, Prometheus, RejectMalformed) and
the same handler (validate a `RunAnalysis`, answer an `AnalysisReply`); a
client in this process asks each in turn, one request at a time (latency)
and 64 at a time (throughput), in interleaved rounds; medians printed.

    .venv/bin/python bench/bench_responder.py [--requests 3000] [--seconds 4] [--rounds 3]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid

import nats
from infra import ROOT
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from revue.common.bus.broker import RejectMalformed, create_broker
from revue.common.bus.responder import Responder, ResponderMetrics
from revue.common.contracts.events import AnalysisReply, RunAnalysis
from revue.common.settings import ServiceSettings
from revue.devkit.embedded import resolve_infrastructure

CONCURRENCY = 256


async def answer(request: RunAnalysis) -> AnalysisReply:
    return AnalysisReply(job_id=request.job_id, status="succeeded")


async def serve(nats_url: str, prefix: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, bus_namespace=prefix, log_level="WARNING")
    registry = CollectorRegistry()
    rejections = RejectMalformed(registry)
    broker = create_broker(settings, registry=registry, rejections=rejections)
    broker.subscriber(f"{prefix}.faststream", queue="bench", max_workers=CONCURRENCY)(answer)
    responder = Responder(
        f"{prefix}.responder",
        "bench",
        answer,
        concurrency=CONCURRENCY,
        tracer=trace.get_tracer("bench"),
        metrics=ResponderMetrics(registry, rejections),
    )
    async with broker:
        await broker.start()
        await responder.start(broker.connection)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await responder.stop(5)


async def latency(nc: nats.NATS, subject: str, count: int) -> float:
    times = []
    for i in range(count):
        body = RunAnalysis(code=f"x = {i}\n", language="python").model_dump_json().encode()
        started = time.perf_counter()
        await nc.request(subject, body, timeout=5)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def throughput(nc: nats.NATS, subject: str, seconds: float, in_flight: int = 64) -> float:
    done = 0
    body = RunAnalysis(code="x = 1\n", language="python").model_dump_json().encode()
    stop = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await nc.request(subject, body, timeout=5)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(in_flight)))
    return done / (time.monotonic() - started)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    infra = await asyncio.to_thread(
        resolve_infrastructure, os.environ, ROOT / ".revue" / "bench", ("nats",)
    )
    prefix = f"b{uuid.uuid4().hex[:8]}"
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        infra.urls["nats"],
        prefix,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert (await server.stdout.readline()).strip() == b"ready"
        nc = await nats.connect(infra.urls["nats"])
        paths = {
            "FastStream subscriber": f"{prefix}.faststream",
            "Responder": f"{prefix}.responder",
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for subject in paths.values():  # warm both
            await latency(nc, subject, 200)
        for _ in range(args.rounds):
            for name, subject in paths.items():
                figures[name].append(
                    (
                        await latency(nc, subject, args.requests),
                        await throughput(nc, subject, args.seconds),
                    )
                )
        await nc.close()
    finally:
        server.stdin.close()
        await server.wait()
        infra.stop()
    print(f"{'path':<24} {'p50 ms (1 at a time)':>22} {'req/s (64 at a time)':>22}")
    medians = {}
    for name, rounds in figures.items():
        p50 = statistics.median(r[0] for r in rounds)
        rate = statistics.median(r[1] for r in rounds)
        medians[name] = (p50, rate)
        print(f"{name:<24} {p50:>22.3f} {rate:>22.0f}")
    (fs_p50, fs_rate), (own_p50, own_rate) = medians.values()
    print(
        f"Responder vs FastStream: p50 {own_p50 / fs_p50:.2f}x ({fs_p50 - own_p50:.3f} ms less),"
        f" throughput {own_rate / fs_rate:.2f}x"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(main())
