import asyncio

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from revue.common.database import PoolStatistics, create_engine, register_pool_metrics
from revue.common.settings import ServiceSettings
from revue.common.testing.waiting import wait_until


async def test_engine_uses_the_configured_pool(database_url):
    settings = ServiceSettings(database_url=database_url)
    engine = create_engine(settings)
    pool = engine.sync_engine.pool
    try:
        assert pool.size() == 20
        assert pool._max_overflow == 10
        assert pool._timeout == 30.0
        assert pool._recycle == 3600
        assert pool._pre_ping is True
        async with engine.connect() as connection:
            name = await connection.scalar(text("SHOW application_name"))
            timeout = await connection.scalar(text("SHOW statement_timeout"))
        assert name == settings.otel_service_name
        assert timeout == "30s"
    finally:
        await engine.dispose()


async def test_pool_statistics_follow_concurrent_use(database_url):
    settings = ServiceSettings(database_url=database_url, db_pool_size=5, db_max_overflow=2)
    engine = create_engine(settings)
    statistics = PoolStatistics(engine)
    registry = CollectorRegistry()
    register_pool_metrics(statistics, registry, "svc")
    peak = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal peak
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            peak = max(peak, statistics.stats()["checked_out"])
            await release.wait()

    try:
        holders = [asyncio.create_task(hold()) for _ in range(7)]
        await wait_until(lambda: statistics.stats()["checked_out"] == 7, timeout=10)
        during = statistics.stats()
        assert during["checked_out"] == 7
        assert during["overflow"] == 2
        assert registry.get_sample_value("db_pool_checked_out", {"service": "svc"}) == 7
        release.set()
        await asyncio.gather(*holders)
        after = statistics.stats()
        assert after["checked_out"] == 0
        assert after["total_checkouts"] == after["total_checkins"] >= 7
        assert registry.get_sample_value("db_pool_size", {"service": "svc"}) == 5
    finally:
        release.set()
        await engine.dispose()
