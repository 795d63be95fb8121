"""Invalidation requests in Postgres: persisted before they are acknowledged, so
a purge back end that is down for a while loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.cdn.adapters.tables import invalidations
from revue.common.contracts.events import RequestInvalidation

# Inline, not a bound parameter: only the literal matches the partial index's
# predicate (migration 0001) in a generic plan, which a prepared statement
# may switch to after a few executions.
IS_PENDING = invalidations.c.status == literal_column("'pending'")


class InvalidationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, request: RequestInvalidation) -> bool:
        """Persist a request; False when this request id was seen before (redelivery)."""
        async with self.engine.begin() as connection:
            created = await connection.scalar(
                insert(invalidations)
                .values(
                    id=request.request_id,
                    paths=request.paths,
                    patterns=request.patterns,
                    surrogate_keys=request.surrogate_keys,
                    everything=request.everything,
                    soft=request.soft,
                    status="pending",
                )
                .on_conflict_do_nothing()
                .returning(invalidations.c.id)
            )
        return created is not None

    async def pending(self, limit: int = 1_000) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(invalidations)
                .where(IS_PENDING)
                .order_by(invalidations.c.requested_at)
                .limit(limit)
            )
            return [dict(row) for row in rows.mappings()]

    async def get(self, request_id: UUID) -> dict[str, Any] | None:
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(invalidations).where(invalidations.c.id == request_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def attempted(self, ids: list[UUID], detail: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                update(invalidations)
                .where(invalidations.c.id.in_(ids))
                .values(attempts=invalidations.c.attempts + 1, detail=detail[:2_000])
            )

    async def finish(self, ids: list[UUID], status: str, backend: str, detail: str = "") -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                update(invalidations)
                .where(invalidations.c.id.in_(ids))
                .values(
                    status=status,
                    backend=backend,
                    detail=detail[:2_000],
                    attempts=invalidations.c.attempts + 1,
                    completed_at=datetime.now(UTC),
                )
            )
