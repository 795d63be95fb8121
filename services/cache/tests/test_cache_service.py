"""The cache service on real NATS and Redis: request/reply, write-through, L1 coherence."""

import asyncio
import json
import sys
import uuid
from pathlib import Path

import nats
import pytest
from redis.asyncio import Redis

from revue.cache.app import create_app
from revue.cache.settings import CacheSettings
from revue.common.bus.streams import ensure_streams
from revue.common.cache import AIResultCache, CacheConfig
from revue.common.cache.config import namespace_for
from revue.common.contracts.events import AnalysisCompleted, AnalysisResult, Finding
from revue.common.contracts.subjects import BusTopology
from revue.devkit.testing.waiting import wait_until

HOLDER = Path(__file__).parent / "l1_holder.py"


@pytest.fixture
async def service(make_settings, redis_url):
    settings = make_settings(CacheSettings)
    app = create_app(settings, configure_process=False)
    async with app.router.lifespan_context(app):
        yield app, settings
    client = Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{namespace_for(settings.bus_namespace)}:*")]
    if keys:
        await client.unlink(*keys)
    await client.aclose()


def results_cache(redis_url, settings) -> AIResultCache:
    """The shared result cache as another process of the suite sees it."""
    namespace = namespace_for(settings.bus_namespace)
    return AIResultCache(Redis.from_url(redis_url), CacheConfig(namespace=namespace))


async def publish_completions(nats_url, topology, events) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, topology)
        for event in events:
            subject = topology.subject("analysis.completed.sync")
            await js.publish(subject, event.model_dump_json().encode())
    finally:
        await nc.drain()


async def request(nc, subject: str, body: dict) -> dict:
    return json.loads((await nc.request(subject, json.dumps(body).encode(), timeout=5)).data)


async def test_set_get_and_stats_over_the_bus(service, nats_url):
    _, settings = service
    topology = BusTopology(settings.bus_namespace)
    nc = await nats.connect(nats_url)
    try:
        stored = await request(
            nc,
            topology.subject("cache.set"),
            {"key": "k1", "value": '{"v": 1}', "content_type": "analysis"},
        )
        assert stored == {"stored": True}
        hit = await request(nc, topology.subject("cache.get"), {"key": "k1"})
        assert hit == {"hit": True, "value": '{"v": 1}'}
        miss = await request(nc, topology.subject("cache.get"), {"key": "nope"})
        assert miss == {"hit": False, "value": None}
        stats = await request(nc, topology.subject("cache.stats"), {})
        assert stats["global"]["hits"] == 1
        assert stats["global"]["misses"] == 1
        assert stats["savings_estimate"]["ai_calls_saved"] == 1
    finally:
        await nc.drain()


async def test_successful_completions_are_written_through_and_failures_are_not(
    service, nats_url, redis_url
):
    _, settings = service
    topology = BusTopology(settings.bus_namespace)
    result = AnalysisResult(
        analyzer="revue-builtin",
        analyzer_version="1",
        language="python",
        findings=[Finding(rule_id="S307", severity="high", line=1, column=1, message="eval")],
    )
    ok = AnalysisCompleted(
        job_id=uuid.uuid4(), status="succeeded", result=result, cache_key="ai:analysis:v1:ok:1"
    )
    failed = AnalysisCompleted(
        job_id=uuid.uuid4(), status="failed", cache_key="ai:analysis:v1:bad:1"
    )
    await publish_completions(nats_url, topology, [failed, ok])
    reader = results_cache(redis_url, settings)
    cached = await wait_until(lambda: reader.get("ai:analysis:v1:ok:1"), timeout=10)
    assert cached["findings"][0]["rule_id"] == "S307"
    assert await reader.get("ai:analysis:v1:bad:1") is None


async def test_a_completion_that_comes_after_an_invalidation_does_not_bring_it_back(
    service, nats_url, redis_url
):
    _, settings = service
    topology = BusTopology(settings.bus_namespace)
    result = AnalysisResult(
        analyzer="revue-builtin", analyzer_version="1", language="python", findings=[]
    )
    computed = AnalysisCompleted(
        job_id=uuid.uuid4(), status="succeeded", result=result, cache_key="ai:analysis:v1:late:1"
    )
    admin = results_cache(redis_url, settings)
    await admin.invalidate(keys=["ai:analysis:v1:late:1"])  # after the result, before its event
    later = AnalysisCompleted(
        job_id=uuid.uuid4(), status="succeeded", result=result, cache_key="ai:analysis:v1:next:1"
    )
    await publish_completions(nats_url, topology, [computed, later])
    # events are taken in order: once the later one is stored, the first was handled
    await wait_until(lambda: admin.get("ai:analysis:v1:next:1"), timeout=10)
    assert await admin.get("ai:analysis:v1:late:1") is None


async def test_an_invalidation_drops_the_l1_copy_in_another_process(
    make_settings, nats_url, redis_url, bus_namespace
):
    prefix = f"holder.{uuid.uuid4().hex[:8]}"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HOLDER),
        nats_url,
        redis_url,
        bus_namespace,
        prefix,
        stdout=asyncio.subprocess.PIPE,
    )
    nc = await nats.connect(nats_url)
    redis = Redis.from_url(redis_url)
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"ready"
        assert await request(nc, f"{prefix}.set", {"key": "shared", "value": {"v": 1}}) == {
            "stored": True
        }
        assert await request(nc, f"{prefix}.l1", {"key": "shared"}) == {"present": True}

        from prometheus_client import CollectorRegistry

        from revue.common.bus.broker import create_broker
        from revue.common.cache.fanout import announcer

        settings = make_settings(CacheSettings)
        broker = create_broker(settings, registry=CollectorRegistry())
        async with broker:
            await broker.start()
            here = AIResultCache(
                redis,
                CacheConfig(namespace=namespace_for(bus_namespace)),
                announce=announcer(broker, BusTopology(bus_namespace)),
                origin="test-process",
            )
            assert await here.get("shared") == {"v": 1}  # read through L2 into this L1
            await here.invalidate(keys=["shared"])

            async def dropped() -> bool:
                return (await request(nc, f"{prefix}.l1", {"key": "shared"})) == {"present": False}

            await wait_until(dropped, timeout=10, message="remote L1 copy dropped")
            assert await here.get("shared") is None
    finally:
        holder.kill()
        await holder.wait()
        await nc.drain()
        await redis.aclose()
