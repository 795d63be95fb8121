"""A separate process holding an L1 that follows `cache.invalidate` (test helper).

It answers on private test subjects: `<prefix>.set` stores a value, and
`<prefix>.l1` says whether a key is still in this process's L1.
"""

import asyncio
import sys
import uuid

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from revue.common.bus.broker import create_broker
from revue.common.cache import AIResultCache, CacheConfig
from revue.common.cache.config import namespace_for
from revue.common.cache.fanout import announcer, follow_invalidations
from revue.common.contracts.subjects import BusTopology
from revue.common.settings import ServiceSettings


async def main(nats_url: str, redis_url: str, namespace: str, prefix: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, bus_namespace=namespace)
    topology = BusTopology(namespace)
    broker = create_broker(settings, registry=CollectorRegistry())
    redis = Redis.from_url(redis_url)
    cache = AIResultCache(
        redis,
        CacheConfig(namespace=namespace_for(namespace)),
        announce=announcer(broker, topology),
        origin=f"holder-{uuid.uuid4().hex[:6]}",
    )
    follow_invalidations(broker, topology, cache)

    @broker.subscriber(f"{prefix}.set")
    async def store(body: dict) -> dict:
        return {"stored": await cache.set(body["key"], body["value"])}

    @broker.subscriber(f"{prefix}.l1")
    async def in_l1(body: dict) -> dict:
        return {"present": cache.l1.get(body["key"]) is not None}

    async with broker:
        await broker.start()
        # A round trip to the server: our subscriptions are registered there
        # before anyone is told to send.
        await broker.connection.flush()
        print("ready", flush=True)
        await asyncio.sleep(120)
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
