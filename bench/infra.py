"""Servers and isolation for benchmarks: the configured servers, else embedded ones."""

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import nats
from sqlalchemy.engine import make_url

from revue.common.bus.streams import delete_streams
from revue.common.contracts.subjects import BusTopology
from revue.common.db import migrations
from revue.common.db.engine import asyncpg_dsn
from revue.devkit.embedded import resolve_infrastructure

ROOT = Path(__file__).resolve().parents[1]


@contextlib.asynccontextmanager
async def bench_environment(migrate: tuple[str, ...] = ()) -> AsyncIterator[dict[str, str]]:
    """An environment with its own database and bus namespace, removed afterwards."""
    infra = await asyncio.to_thread(resolve_infrastructure, os.environ, ROOT / ".revue" / "bench")
    namespace = f"b{uuid.uuid4().hex[:8]}"
    database = f"revue_bench_{namespace}"
    admin_url = infra.urls["postgres"]
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    database_url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    for module in migrate:
        await asyncio.to_thread(migrations.upgrade, module, database_url)
    env = {
        **os.environ,
        **infra.env(),
        "DATABASE_URL": database_url,
        "BUS_NAMESPACE": namespace,
        "LOG_LEVEL": "WARNING",
    }
    try:
        yield env
    finally:
        connection = await nats.connect(infra.urls["nats"])
        await delete_streams(connection.jetstream(), BusTopology(namespace))
        await connection.drain()
        admin = await asyncpg.connect(asyncpg_dsn(admin_url))
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        infra.stop()


BENCH_PASSWORD = "Bench-Password-2026"


async def bench_token(gateway: str) -> str:
    """Register a fresh bench user at `gateway`; return its access token."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        account = {"email": email, "password": BENCH_PASSWORD, "full_name": "Bench"}
        (await client.post("/api/v1/auth/register", json=account)).raise_for_status()
        issued = await client.post(
            "/api/v1/auth/token", json={"email": email, "password": BENCH_PASSWORD}
        )
        issued.raise_for_status()
    return issued.json()["access_token"]
