"""The database hooks on real Postgres and NATS: timed, sampled, announced after commit."""

import json

import nats
from sqlalchemy import text

from revue.common.contracts.subjects import BusTopology
from revue.common.db.engine import create_engine
from revue.common.db.query_monitor import UNREPORTED, QueryMonitor
from revue.common.settings import ServiceSettings
from revue.devkit.testing.waiting import wait_until


async def test_writes_are_announced_only_after_their_commit(database_url, nats_url, bus_namespace):
    engine = create_engine(ServiceSettings(_env_file=None), database_url)
    monitor = QueryMonitor("svc", sample_rate=1.0)
    monitor.attach(engine)
    heard: list[frozenset[str]] = []
    monitor.on_tables_changed(heard.append)
    topology = BusTopology(bus_namespace)
    connection = await nats.connect(nats_url)
    changed, executed = [], []

    def collect(into: list):
        async def callback(message) -> None:
            into.append(json.loads(message.data))

        return callback

    await connection.subscribe(topology.subject("db.table.changed"), cb=collect(changed))
    await connection.subscribe(topology.subject("db.query.executed"), cb=collect(executed))
    monitor.start(lambda: connection, topology)
    try:
        async with engine.begin() as db:
            await db.execute(text("CREATE TABLE projects (id int PRIMARY KEY, name text)"))
        async with engine.connect() as db:
            transaction = await db.begin()
            await db.execute(text("INSERT INTO projects VALUES (1, 'a')"))
            await db.execute(text("SELECT name FROM projects WHERE id = 1"))
            assert heard == [] and not monitor._changes  # written, not yet committed
            await transaction.commit()
            assert heard == [frozenset({"projects"})]  # in-process: at once
            async with db.begin():
                await db.execute(text("UPDATE projects SET name = 'b'"))
                await db.rollback()
        await wait_until(lambda: len(changed) == 1, message="table change announced")
        assert changed[0]["tables"] == ["projects"]
        assert changed[0]["service"] == "svc"
        await wait_until(lambda: any("SELECT name" in e["statement"] for e in executed))
        select = next(e for e in executed if "SELECT name" in e["statement"])
        assert select["tables"] == ["projects"]
        assert select["duration_ms"] > 0
        assert heard == [frozenset({"projects"})]  # the rolled-back UPDATE announced nothing
    finally:
        await monitor.stop()
        await connection.drain()
        await engine.dispose()


async def test_a_full_buffer_drops_and_counts_but_never_blocks(database_url):
    engine = create_engine(ServiceSettings(_env_file=None), database_url)
    monitor = QueryMonitor("svc", sample_rate=1.0, buffer_size=5)
    monitor.attach(engine)  # never started: nothing drains the buffer
    try:
        async with engine.connect() as db:
            for number in range(20):
                assert (await db.execute(text(f"SELECT {number}"))).scalar() == number
        assert len(monitor._queries) == 5
        assert monitor.dropped >= 15
    finally:
        await engine.dispose()


async def test_sampling_keeps_every_slow_statement(database_url):
    engine = create_engine(ServiceSettings(_env_file=None), database_url)
    monitor = QueryMonitor("svc", sample_rate=0.0, slow_ms=50)
    monitor.attach(engine)
    try:
        async with engine.connect() as db:
            await db.execute(text("SELECT 1"))
            await db.execute(text("SELECT pg_sleep(0.06)"))
        assert [q.statement for q in monitor._queries] == ["SELECT pg_sleep(0.06)"]
    finally:
        await engine.dispose()


async def test_an_unreported_connection_is_timed_and_announced_but_never_reported(database_url):
    """The query-optimizer records query events unreported: reported, each recording would
    be an event to record again, without end at a sample rate of 1."""
    engine = create_engine(ServiceSettings(_env_file=None), database_url)
    monitor = QueryMonitor("svc", sample_rate=1.0, slow_ms=0)  # every statement, slow or not
    monitor.attach(engine)
    heard: list[frozenset[str]] = []
    monitor.on_tables_changed(heard.append)
    try:
        async with engine.begin() as db:
            await db.execute(text("CREATE TABLE tallies (id int PRIMARY KEY, n int)"))
        async with engine.begin() as db:
            await db.execution_options(**UNREPORTED)
            await db.execute(text("INSERT INTO tallies VALUES (1, 1)"))
        async with engine.begin() as db:
            await db.execute(text("UPDATE tallies SET n = n + 1"))
        statements = [query.statement for query in monitor._queries]
        assert not any("INSERT INTO tallies" in statement for statement in statements)
        assert any("UPDATE tallies" in statement for statement in statements)
        assert heard[-2:] == [frozenset({"tallies"})] * 2  # both writes announced
    finally:
        await engine.dispose()
