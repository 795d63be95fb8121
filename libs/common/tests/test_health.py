import asyncio

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis

from revue.common.observability.health import Readiness, observability_router, redis_check


def app_with(readiness: Readiness, registry: CollectorRegistry) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(observability_router("svc", readiness, registry))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_ready_when_every_dependency_answers(redis_url):
    readiness = Readiness(timeout=1)
    client = Redis.from_url(redis_url)
    readiness.add("redis", redis_check(client))
    async with app_with(readiness, CollectorRegistry()) as http:
        response = await http.get("/readyz")
    await client.aclose()
    assert response.status_code == 200
    assert response.json()["checks"]["redis"]["status"] == "up"


async def test_not_ready_names_the_dependency_that_is_down(redis_url):
    readiness = Readiness(timeout=1)
    up, down = Redis.from_url(redis_url), Redis.from_url("redis://127.0.0.1:1/0")
    readiness.add("redis", redis_check(up))
    readiness.add("other-redis", redis_check(down))
    async with app_with(readiness, CollectorRegistry()) as http:
        response = await http.get("/readyz")
        alive = await http.get("/healthz")
    await up.aclose()
    await down.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["status"] == "up"
    assert body["checks"]["other-redis"]["status"] == "down"
    assert "Connection" in body["checks"]["other-redis"]["error"]
    assert alive.status_code == 200  # liveness does not depend on dependencies


async def test_a_hanging_check_is_reported_within_the_timeout():
    readiness = Readiness(timeout=0.2)
    readiness.add("stuck", lambda: asyncio.sleep(30))
    ready, checks = await asyncio.wait_for(readiness.report(), 2)
    assert not ready
    assert "no answer" in checks["stuck"]["error"]


async def test_metrics_render_the_service_registry():
    registry = CollectorRegistry()
    Counter("widgets_total", "Widgets", registry=registry).inc(3)
    async with app_with(Readiness(), registry) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert "widgets_total 3.0" in response.text
