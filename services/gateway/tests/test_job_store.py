"""Group commits of synchronous results: COPY into `jobs`, seen by the query monitor."""

import uuid

import asyncpg
import orjson
import pytest

from revue.common.db.engine import asyncpg_dsn
from revue.common.db.query_monitor import QueryMonitor
from revue.gateway.adapters.jobs import JobStore

from .conftest import finished, new_user


async def test_rows_are_copied_with_results_given_as_json_bytes_or_objects(
    engine, gateway_database
):
    owner = await new_user(engine)
    cached = orjson.dumps({"findings": [{"rule_id": "S307"}], "truncated": False})
    rows = [finished(owner, cached), finished(owner, {"findings": [], "truncated": True})]
    assert await JobStore(engine).create_many(rows) == 2
    connection = await asyncpg.connect(asyncpg_dsn(gateway_database))
    try:
        stored = {
            record["id"]: orjson.loads(record["result"])
            for record in await connection.fetch("SELECT id, result FROM jobs")
        }
    finally:
        await connection.close()
    assert stored == {
        rows[0]["id"]: {"findings": [{"rule_id": "S307"}], "truncated": False},
        rows[1]["id"]: {"findings": [], "truncated": True},
    }


async def test_a_copy_is_timed_and_announces_the_table_after_commit(engine):
    owner = await new_user(engine)
    monitor = QueryMonitor("gateway", sample_rate=1.0)
    monitor.attach(engine)
    changed = []
    monitor.on_tables_changed(changed.append)
    await JobStore(engine, monitor).create_many([finished(owner, {"findings": []})])
    assert changed == [frozenset({"jobs"})]
    copied = [event for event in monitor._queries if event.statement.startswith("COPY jobs")]
    assert len(copied) == 1 and copied[0].rows == 1


async def test_a_batch_with_a_bad_row_writes_nothing(engine):
    owner = await new_user(engine)
    stranger = uuid.uuid4()  # no such user: the foreign key refuses the row
    store = JobStore(engine)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await store.create_many([finished(owner, None), finished(stranger, None)])
    async with engine.connect() as connection:
        count = (await connection.exec_driver_sql("SELECT count(*) FROM jobs")).scalar_one()
    assert count == 0
