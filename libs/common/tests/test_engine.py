import asyncio

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from revue.common.db.engine import PoolStatistics, create_engine, register_pool_metrics
from revue.common.settings import ServiceSettings
from revue.devkit.testing.waiting import wait_until


async def test_engine_uses_the_configured_pool(database_url):
    settings = ServiceSettings(database_url=database_url)
    engine = create_engine(settings)
    pool = engine.sync_engine.pool
    try:
        assert pool.size() == 20
        assert pool._max_overflow == 10
        assert pool._timeout == 30.0
        assert pool._recycle == 3600
        assert pool._pre_ping is False  # pinged when idle instead: see below
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


async def backend_pid(engine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(text("SELECT pg_backend_pid()"))


async def terminate(engine, pid: int) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def one_connection_pool(database_url: str, idle_s: float):
    settings = ServiceSettings(
        database_url=database_url, db_pool_size=1, db_max_overflow=0, db_pool_ping_idle_s=idle_s
    )
    return create_engine(settings)


async def test_a_connection_that_died_while_idle_is_replaced_unseen(database_url):
    engine, killer = one_connection_pool(database_url, 0.2), one_connection_pool(database_url, 0)
    try:
        pid = await backend_pid(engine)
        await terminate(killer, pid)
        await asyncio.sleep(0.25)  # not a wait for a condition: the connection must sit idle
        assert await backend_pid(engine) != pid  # pinged, found dead, replaced
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_in_use_a_moment_ago_is_not_pinged(database_url):
    engine, killer = one_connection_pool(database_url, 3600), one_connection_pool(database_url, 0)
    try:
        pid = await backend_pid(engine)
        await terminate(killer, pid)
        # No ping: the dead connection is handed out, its statement fails once...
        with pytest.raises(DBAPIError):
            await backend_pid(engine)
        # ...and the pool replaces it.
        assert await backend_pid(engine) != pid
    finally:
        await engine.dispose()
        await killer.dispose()
