"""Run the real analysis app in-process against the test servers."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats

from revue.analysis.app import create_app
from revue.analysis.settings import AnalysisSettings
from revue.common.db import migrations


async def migrated(database_url: str) -> str:
    await asyncio.to_thread(migrations.upgrade, "revue.analysis", database_url)
    return database_url


@contextlib.asynccontextmanager
async def running_service(settings: AnalysisSettings, provider) -> AsyncIterator:
    app = create_app(settings, configure_process=False, provider=provider)
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def nats_client(url: str) -> AsyncIterator[nats.NATS]:
    connection = await nats.connect(url)
    try:
        yield connection
    finally:
        await connection.drain()
