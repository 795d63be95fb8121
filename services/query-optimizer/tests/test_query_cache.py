"""The query-result cache on real Postgres, Redis and NATS."""

import contextlib

import pytest
from faststream.nats import NatsBroker
from redis.asyncio import Redis
from sqlalchemy import text

from revue.common.cache.l2 import L2RedisCache
from revue.common.contracts.subjects import BusTopology
from revue.common.db.engine import create_engine
from revue.common.db.query_monitor import QueryMonitor
from revue.common.db.sql_shape import shape_of
from revue.common.settings import ServiceSettings
from revue.devkit.testing.waiting import wait_until
from revue.query_optimizer.entrypoints.bus import follow_table_changes
from revue.query_optimizer.query_cache import QueryResultCache

OWNED = "SELECT id, name FROM projects WHERE owner_id = $1 ORDER BY id"


@pytest.fixture
async def engine(database_url):
    engine = create_engine(ServiceSettings(_env_file=None), database_url)
    async with engine.begin() as db:
        await db.execute(
            text("CREATE TABLE projects (id int PRIMARY KEY, owner_id int, name text)")
        )
        await db.execute(text("INSERT INTO projects VALUES (1, 7, 'a'), (2, 7, 'b'), (3, 8, 'c')"))
        await db.execute(text("CREATE VIEW active AS SELECT * FROM projects WHERE name <> 'x'"))
        await db.execute(
            text("CREATE FUNCTION roll() RETURNS float8 VOLATILE LANGUAGE sql AS 'SELECT 4.0'")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def cache_on(engine, redis=None, prefix="t") -> QueryResultCache:
    monitor = QueryMonitor("test", sample_rate=0.0)
    monitor.attach(engine)
    cache = QueryResultCache(engine, L2RedisCache(redis, prefix) if redis else None)
    monitor.on_tables_changed(cache.apply_table_change)
    return cache


async def test_a_repeat_is_a_hit_with_the_same_rows(engine):
    cache = cache_on(engine)
    first, _ = await cache.execute_query(OWNED, {"owner_id": 7})
    again, milliseconds = await cache.execute_query(OWNED, {"owner_id": 7})
    other, _ = await cache.execute_query(OWNED, [8])
    assert first == again == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert other == [{"id": 3, "name": "c"}]
    assert milliseconds >= 0
    assert cache.stats()["hits"] == 1
    assert cache.stats()["misses"] == 2
    spaced = "select id,  name\nFROM projects where owner_id = $1 order by id -- same query"
    assert (await cache.execute_query(spaced, [7]))[0] == first
    assert cache.stats()["hits"] == 2


async def test_an_entry_survives_an_uncommitted_write_and_vanishes_after_commit(engine):
    cache = cache_on(engine)
    await cache.execute_query(OWNED, [7])
    async with engine.connect() as writer:
        transaction = await writer.begin()
        await writer.execute(text("UPDATE projects SET name = 'z' WHERE id = 1"))
        rows, _ = await cache.execute_query(OWNED, [7])
        assert rows[0]["name"] == "a" and cache.stats()["hits"] == 1  # not committed yet
        await transaction.commit()
    rows, _ = await cache.execute_query(OWNED, [7])
    assert rows[0]["name"] == "z"
    assert cache.stats()["misses"] == 2


async def test_volatile_locking_temporary_and_writing_statements_are_never_cached(engine):
    cache = cache_on(engine)
    for sql in (
        "SELECT now() AS at",
        "SELECT random() AS r",
        "SELECT roll() AS r",  # a user function declared VOLATILE
        "SELECT id FROM projects WHERE id = 1 FOR UPDATE",
        "SELECT id FROM projects WHERE created_at > current_timestamp",
    ):
        for _ in range(2):
            # The last one has no such column: refused by the cache, then by PostgreSQL.
            with contextlib.suppress(Exception):
                await cache.execute_query(sql)
    assert cache.stats()["hits"] == 0
    assert cache.stats()["stored"] == 0
    async with engine.connect() as db:  # a temporary table lives on one connection
        await db.execute(text("CREATE TEMP TABLE scratch AS SELECT 1 AS one"))
        verdict = await cache._verdict(db, shape_of("SELECT one FROM scratch"))
        assert (verdict.cacheable, verdict.reason) == (False, "temporary table")
        verdict = await cache._verdict(db, shape_of("SELECT count(*) FROM active"))
        assert verdict.cacheable and "projects" in verdict.tables  # the view's base table


async def test_a_view_is_dropped_when_its_base_table_changes(engine):
    cache = cache_on(engine)
    await cache.execute_query("SELECT count(*) AS n FROM active")
    async with engine.begin() as db:
        await db.execute(text("INSERT INTO projects VALUES (4, 9, 'd')"))
    rows, _ = await cache.execute_query("SELECT count(*) AS n FROM active")
    assert rows == [{"n": 4}]
    assert cache.stats()["hits"] == 0


async def test_other_processes_share_redis_and_drop_their_copies_on_the_bus(
    database_url, engine, redis, redis_prefix, nats_url, bus_namespace
):
    writer = cache_on(engine, redis, redis_prefix)
    other_engine = create_engine(ServiceSettings(_env_file=None), database_url)
    reader = QueryResultCache(other_engine, L2RedisCache(redis, redis_prefix))
    broker = NatsBroker(nats_url)
    follow_table_changes(broker, BusTopology(bus_namespace), reader)
    monitor = QueryMonitor("writer", sample_rate=0.0)
    monitor.attach(engine)
    try:
        await broker.start()
        monitor.start(lambda: broker.connection, BusTopology(bus_namespace))
        await writer.execute_query(OWNED, [7])
        rows, _ = await reader.execute_query(OWNED, [7])
        assert reader.stats()["hits_l2"] == 1 and rows[0]["name"] == "a"
        async with engine.begin() as db:
            await db.execute(text("UPDATE projects SET name = 'q' WHERE id = 1"))
        await wait_until(lambda: reader.stats()["invalidations"] >= 1, message="change heard")
        rows, _ = await reader.execute_query(OWNED, [7])
        assert rows[0]["name"] == "q"
    finally:
        await monitor.stop()
        await broker.stop()
        await other_engine.dispose()
