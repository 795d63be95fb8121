"""Pytest fixtures for real NATS, Redis and PostgreSQL, isolated per test.

Session-wide: one server of each kind (see `servers.find_servers`).
Per test: a fresh database, a bus namespace (own subjects and streams) and a
Redis key prefix, each removed afterwards, so tests never see each other.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import asyncpg
import nats
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from revue.common.bus.streams import delete_streams
from revue.common.cache.config import namespace_for
from revue.common.contracts.subjects import BusTopology
from revue.common.db.engine import asyncpg_dsn
from revue.common.settings import ServiceSettings
from revue.devkit.testing.servers import TestServers, find_servers

S = TypeVar("S", bound=ServiceSettings)


@pytest.fixture(scope="session")
def test_servers() -> Iterator[TestServers]:
    servers = find_servers()
    print(f"\nrevue test servers: {servers.sources}")  # shown with -s, and on failure
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def nats_url(test_servers: TestServers) -> str:
    return test_servers.urls["nats"]


@pytest.fixture(scope="session")
def redis_url(test_servers: TestServers) -> str:
    return test_servers.urls["redis"]


@pytest.fixture(scope="session")
def postgres_url(test_servers: TestServers) -> str:
    """The server's maintenance database; tests use `database_url` instead."""
    return test_servers.urls["postgres"]


@contextlib.asynccontextmanager
async def fresh_database(postgres_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on the server, dropped on exit."""
    name = f"revue_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    async with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
async def bus_namespace(nats_url: str, redis_url: str) -> AsyncIterator[str]:
    """A namespace private to this test: subjects, streams and cache keys."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield namespace
    connection = await nats.connect(nats_url)
    try:
        await delete_streams(connection.jetstream(), BusTopology(namespace))
    finally:
        await connection.drain()
    client = Redis.from_url(redis_url)
    try:
        pattern = f"{namespace_for(namespace)}:*"
        keys = [key async for key in client.scan_iter(match=pattern, count=500)]
        if keys:
            await client.unlink(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix private to this test; its keys are unlinked afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.unlink(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def make_settings(
    nats_url: str, redis_url: str, bus_namespace: str
) -> Callable[..., ServiceSettings]:
    """Build a service's settings pointed at the test servers and namespace."""

    def build(cls: type[S], database_url: str | None = None, **overrides: Any) -> S:
        values: dict[str, Any] = {
            "nats_url": nats_url,
            "redis_url": redis_url,
            "bus_namespace": bus_namespace,
            "log_format": "json",
            **({"database_url": database_url} if database_url else {}),
            **overrides,
        }
        return cls(**values)

    return build


@pytest.fixture
def service_env(
    nats_url: str, redis_url: str, database_url: str, bus_namespace: str
) -> dict[str, str]:
    """Environment for a service started as a real process in a test."""
    return {
        **os.environ,
        "NATS_URL": nats_url,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "BUS_NAMESPACE": bus_namespace,
    }
