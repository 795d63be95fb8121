import asyncio

import asyncpg
import pytest

from revue.common.contracts.services import SERVICES
from revue.common.db import migrations
from revue.common.db.engine import asyncpg_dsn
from revue.common.db.migrations import migrate_all

OWNING_TABLES = ["revue.gateway", "revue.analysis", "revue.query_optimizer", "revue.cdn"]


def test_services_that_own_tables_ship_migrations():
    owners = [spec.module for spec in SERVICES if migrations.has_migrations(spec.module)]
    assert owners == OWNING_TABLES
    assert not migrations.has_migrations("revue.cache")  # Redis only


async def test_each_service_migrates_with_its_own_version_table(database_url):
    migrated = await asyncio.to_thread(migrate_all, database_url)
    assert migrated == ["gateway", "analysis", "query-optimizer", "cdn"]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        tables = {
            row["tablename"] for row in await connection.fetch("SELECT tablename FROM pg_tables")
        }
    finally:
        await connection.close()
    for module in OWNING_TABLES:
        assert migrations.version_table(module) in tables


@pytest.mark.parametrize("password", ["p%40ss", "100%25sure"])
def test_urls_with_percent_signs_survive_the_config(password):
    url = f"postgresql+asyncpg://u:{password}@127.0.0.1/db"
    config = migrations.alembic_config("revue.gateway", url)
    assert config.attributes["database_url"] == url
    assert config.attributes["version_table"] == "alembic_version_gateway"
