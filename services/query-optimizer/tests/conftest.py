"""Fixtures of the query-optimizer's tests: the seeds' schema, seeded with skewed data."""

import asyncpg
import pytest

from revue.common.db.engine import asyncpg_dsn
from revue.devkit.testing.fixtures import fresh_database
from revue.query_optimizer.demo_schema import create_and_seed

SESSIONS = 100_000  # enough rows that sort order and skew show in the plans


@pytest.fixture
async def seeded(database_url):
    """A connection to a fresh database holding the seeded schema."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    await create_and_seed(connection, SESSIONS)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def gateway_database_url(postgres_url):
    """A second database: the gateway has a `users` table of its own."""
    async with fresh_database(postgres_url) as url:
        yield url
