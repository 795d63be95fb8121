"""The record of deployments in Postgres: what became current, when, and what changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.cdn.adapters.tables import deployments


class DeploymentLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, deployment: str, files: int, size: int, changed: list[str]) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                deployments.insert().values(
                    id=deployment, files=files, bytes=size, changed_paths=changed
                )
            )

    async def history(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(deployments).order_by(deployments.c.id.desc()).limit(limit)
            )
            return [dict(row) for row in rows.mappings()]
