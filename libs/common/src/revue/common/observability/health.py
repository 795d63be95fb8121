"""Liveness, readiness and Prometheus metrics, the same on every service.

`/healthz` answers while the process can serve at all (the event loop runs);
`/readyz` asks each dependency the service registered, each within a timeout,
and answers 503 naming the ones that are down; `/metrics` renders the
service's own Prometheus registry and the process-wide one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Check = Callable[[], Awaitable[Any]]


class Readiness:
    """The named dependency checks whose success makes a service ready."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._checks: dict[str, Check] = {}
        self._details: dict[str, Callable[[], Any]] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def add_details(self, name: str, describe: Callable[[], Any]) -> None:
        """What `/readyz` shows beside the checks without deciding readiness (e.g. the
        output mode each AI provider was found to take)."""
        self._details[name] = describe

    def details(self) -> dict[str, Any]:
        return {name: describe() for name, describe in self._details.items()}

    async def _run(self, name: str, check: Check) -> tuple[str, dict[str, Any]]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check(), self.timeout)
        except TimeoutError:
            status: dict[str, Any] = {"status": "down", "error": f"no answer in {self.timeout} s"}
        except Exception as error:  # a failing dependency is a report, not a crash
            status = {"status": "down", "error": f"{type(error).__name__}: {error}"[:300]}
        else:
            status = {"status": "up"}
        status["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return name, status

    async def report(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        results = await asyncio.gather(*(self._run(n, c) for n, c in self._checks.items()))
        checks = dict(results)
        return all(c["status"] == "up" for c in checks.values()), checks


def nats_check(is_connected: Callable[[], bool], flush: Callable[[], Awaitable[Any]]) -> Check:
    async def check() -> None:
        if not is_connected():
            raise ConnectionError("not connected")
        await flush()  # a round trip to the server, not just a socket flag

    return check


def redis_check(client: Redis) -> Check:
    async def check() -> None:
        await client.ping()

    return check


def postgres_check(engine: AsyncEngine) -> Check:
    async def check() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return check


def observability_router(
    service: str, readiness: Readiness, registry: CollectorRegistry
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz", summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        ready, checks = await readiness.report()
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "service": service,
            "checks": checks,
        }
        if details := readiness.details():
            body["details"] = details
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        # The service's own metrics, then the shared building blocks' (retry,
        # breaker, batching) and the process collectors from the default registry.
        body = generate_latest(registry) + generate_latest(REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
