"""The suite under faults: real processes, real servers, every loop bounded in count and time.

Each test prints the figure the issue asks for. The provider is the local
chat-completions stand-in (revue.common.testing.chat_completions), switched
down or made to fail a share of requests; Redis and NATS faults use private
servers on 127.0.0.1 that the test stops and starts.
"""

import asyncio
import statistics
import time
import uuid

import httpx
import nats
import pytest
from service_processes import running_services, user_headers

from revue.common import subjects
from revue.common.events import AnalysisReply, RunAnalysis
from revue.common.subjects import BusTopology
from revue.common.testing.chat_completions import ChatCompletionsServer
from revue.common.testing.waiting import wait_until

pytestmark = [pytest.mark.suite, pytest.mark.faults]


def unique_code() -> str:
    return f"value = eval(user_input)  # {uuid.uuid4().hex}\n"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def provider_env(server: ChatCompletionsServer, **extra: str) -> dict[str, str]:
    return {
        "PROVIDER": "openai",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "local-stand-in",
        "CACHE_ENABLED": "false",  # every request must reach the provider
        "RETRY_INITIAL_DELAY": "0.05",
        "RETRY_MAX_DELAY": "0.5",
        **extra,
    }


async def breaker_state(client: httpx.AsyncClient, analysis: str) -> float:
    text = (await client.get(f"{analysis}/metrics")).text
    prefix = 'circuit_breaker_state{breaker="provider-openai"}'
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return float(line.rsplit(" ", 1)[1])


async def test_a_failing_provider_opens_the_circuit_fast_rejections_then_it_closes(service_env):
    with ChatCompletionsServer() as provider:
        env = provider_env(
            provider,
            RETRY_MAX_ATTEMPTS="2",
            BREAKER_FAILURE_THRESHOLD="5",
            BREAKER_RECOVERY_TIMEOUT="10",
            BREAKER_HALF_OPEN_CALLS="2",
        )
        async with (
            running_services(service_env, ("analysis", "gateway"), **env) as services,
            httpx.AsyncClient(base_url=services.url("gateway"), timeout=30) as client,
        ):
            user = await user_headers(client)

            async def analyze() -> httpx.Response:
                body = {"code": unique_code(), "language": "python"}
                return await client.post("/api/v1/analyze", json=body, headers=user)

            provider.script.down = True
            codes = []
            for _ in range(40):  # until the circuit opens; 5 failures should do it
                response = await analyze()
                assert response.status_code == 503, response.text
                codes.append(response.json()["code"])
                if codes[-1] == "circuit_open":
                    break
            assert codes[-1] == "circuit_open", codes
            assert await breaker_state(client, services.url("analysis")) == 2
            calls_when_opened = len(provider.script.requests)

            # The analysis service's answer to the request the gateway sends
            # (core NATS request/reply), timed where the gateway waits for it.
            bus = await nats.connect(service_env["NATS_URL"])
            subject = BusTopology(service_env["BUS_NAMESPACE"]).subject(subjects.ANALYSIS_RUN)
            direct = []
            try:
                for _ in range(300):
                    request = RunAnalysis(code=unique_code(), language="python")
                    started = time.perf_counter()
                    message = await bus.request(
                        subject, request.model_dump_json().encode(), timeout=10
                    )
                    direct.append((time.perf_counter() - started) * 1000)
                    reply = AnalysisReply.model_validate_json(message.data)
                    assert reply.status == "failed"
                    assert reply.error.code == "circuit_open"
                    assert reply.error.retry_after_s > 0
            finally:
                await bus.drain()
            through_gateway = []
            for _ in range(100):
                started = time.perf_counter()
                response = await analyze()
                through_gateway.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 503
                assert response.json()["code"] == "circuit_open"
                assert int(response.headers["retry-after"]) >= 1
            baseline = []  # the gateway's cheapest route, for scale on this machine
            for _ in range(100):
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                baseline.append((time.perf_counter() - started) * 1000)
            print(
                f"\nbreaker open after {len(codes)} failing requests; rejections: "
                f"analysis.run round trip p50 {statistics.median(direct):.2f} ms, "
                f"p99 {percentile(direct, 0.99):.2f} ms (300); through the gateway "
                f"p50 {statistics.median(through_gateway):.2f} ms, "
                f"p99 {percentile(through_gateway, 0.99):.2f} ms (100); "
                f"gateway /healthz p50 {statistics.median(baseline):.2f} ms"
            )
            assert len(provider.script.requests) == calls_when_opened  # none reached it
            assert percentile(direct, 0.99) < 5.0

            provider.script.down = False

            async def healed() -> bool:
                return (await analyze()).status_code == 200

            await wait_until(healed, timeout=20, interval=0.5, message="a probe succeeded")
            for _ in range(3):
                assert (await analyze()).status_code == 200
            assert await breaker_state(client, services.url("analysis")) == 0


async def test_ten_percent_transient_provider_faults_leave_99_5_percent_succeeding(service_env):
    total, concurrency = 600, 16
    with ChatCompletionsServer() as provider:
        provider.script.failure_rate = 0.10
        async with (
            running_services(
                service_env, ("analysis", "gateway"), **provider_env(provider)
            ) as services,
            httpx.AsyncClient(base_url=services.url("gateway"), timeout=60) as client,
        ):
            user = await user_headers(client)
            statuses: list[int] = []
            queue = iter(range(total))

            async def worker() -> None:
                for _ in queue:
                    body = {"code": unique_code(), "language": "python"}
                    response = await client.post("/api/v1/analyze", json=body, headers=user)
                    statuses.append(response.status_code)

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.monotonic() - started
    succeeded = statuses.count(200)
    share = succeeded / total
    print(
        f"\n10% provider faults ({provider.script.faults_given} injected of "
        f"{len(provider.script.requests)} provider calls): {succeeded}/{total} requests "
        f"succeeded = {share:.2%} in {elapsed:.1f} s; "
        f"other statuses {sorted(set(statuses) - {200})}"
    )
    assert len(statuses) == total
    assert provider.script.faults_given >= total * 0.05  # the faults really happened
    assert share >= 0.995
    assert all(status < 500 or status == 503 for status in statuses)
