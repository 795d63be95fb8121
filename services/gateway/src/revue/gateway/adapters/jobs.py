"""Job status rows: what the gateway knows about each analysis it accepted."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import DateTime, String, column, select, tuple_, update, values
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.contracts.events import AnalysisCompleted, AnalysisResult, ErrorInfo
from revue.common.db.query_monitor import QueryMonitor
from revue.gateway.adapters.tables import jobs

TERMINAL = ("succeeded", "failed")


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


# Finished synchronous results are appended with COPY: one round trip and no
# per-row SQL work for a whole group commit (an executemany INSERT cost the
# gateway several times more CPU per row; bench/RESULTS.md).
COPY_COLUMNS = (
    "id",
    "owner_id",
    "mode",
    "status",
    "priority",
    "language",
    "idempotency_key",
    "request_hash",
    "result",
    "error",
    "created_at",
    "completed_at",
)
JSON_COLUMNS = frozenset({"result", "error"})
COPY_STATEMENT = f"COPY {jobs.name} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT binary)"


def json_text(value: Any) -> str | None:
    """A JSONB value as the driver's codec takes it: JSON text (bytes already encoded pass)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    return orjson.dumps(value).decode()


class JobStore:
    def __init__(self, engine: AsyncEngine, monitor: QueryMonitor | None = None) -> None:
        self.engine = engine
        self.monitor = monitor

    async def create(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert a job; None when this owner already used the row's Idempotency-Key."""
        async with self.engine.begin() as connection:
            created = (
                (
                    await connection.execute(
                        insert(jobs)
                        .values(row)
                        .on_conflict_do_nothing(
                            index_elements=["owner_id", "idempotency_key"],
                            index_where=jobs.c.idempotency_key.is_not(None),
                        )
                        .returning(*jobs.c)
                    )
                )
                .mappings()
                .first()
            )
        return dict(created) if created else None

    async def create_many(self, rows: list[dict[str, Any]]) -> int:
        """Append finished rows with fresh ids in one COPY (group commit of sync results).

        `result` and `error` may be given as encoded JSON (a cached result's
        bytes go in as they are). All rows are written or none.
        """
        records = [
            tuple(json_text(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in COPY_COLUMNS)
            for row in rows
        ]
        async with self.engine.begin() as connection:
            pooled = await connection.get_raw_connection()
            started = time.perf_counter()
            await pooled.driver_connection.copy_records_to_table(
                jobs.name, records=records, columns=COPY_COLUMNS
            )
            if self.monitor is not None:  # COPY runs past SQLAlchemy's statement hooks
                self.monitor.observe(
                    pooled.info, COPY_STATEMENT, time.perf_counter() - started, len(records)
                )
        return len(records)

    async def by_idempotency_key(self, owner_id: UUID, key: str) -> dict[str, Any] | None:
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(jobs).where(
                            jobs.c.owner_id == owner_id, jobs.c.idempotency_key == key
                        )
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def delete(self, job_id: UUID) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(jobs.delete().where(jobs.c.id == job_id))

    async def get_many(self, owner_id: UUID, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
        """The owner's jobs among `ids` (others' jobs are simply not found)."""
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(jobs).where(jobs.c.owner_id == owner_id, jobs.c.id.in_(list(ids)))
                )
            ).mappings()
            return {row["id"]: dict(row) for row in rows}

    async def page(
        self, owner_id: UUID, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[dict[str, Any]]:
        """Newest first, keyset-paginated on (created_at, id)."""
        query = select(jobs).where(jobs.c.owner_id == owner_id)
        if after is not None:
            query = query.where(tuple_(jobs.c.created_at, jobs.c.id) < tuple_(*after))
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def complete_from_row(self, row: dict[str, Any]) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                update(jobs)
                .where(jobs.c.id == row["id"])
                .values(
                    status=row["status"],
                    result=row["result"],
                    error=row["error"],
                    completed_at=row["completed_at"],
                )
            )

    async def complete_many(self, events: Sequence[AnalysisCompleted]) -> int:
        """Apply completion events to jobs not yet finished; returns rows changed."""
        if not events:
            return 0
        done = values(
            column("job_id", PG_UUID(as_uuid=True)),
            column("new_status", String),
            column("new_result", JSONB),
            column("new_error", JSONB),
            column("done_at", DateTime(timezone=True)),
            name="done",
        ).data(
            [
                (
                    event.job_id,
                    event.status,
                    event.result.model_dump(mode="json") if event.result else None,
                    event.error.model_dump(mode="json") if event.error else None,
                    event.completed_at,
                )
                for event in events
            ]
        )
        # One UPDATE ... FROM (VALUES ...) for the whole batch; RETURNING
        # counts the rows changed (an executemany would not report them).
        statement = (
            update(jobs)
            .where(jobs.c.id == done.c.job_id, jobs.c.status.not_in(TERMINAL))
            .values(
                status=done.c.new_status,
                result=done.c.new_result,
                error=done.c.new_error,
                completed_at=done.c.done_at,
            )
            .returning(jobs.c.id)
        )
        async with self.engine.begin() as connection:
            changed = (await connection.execute(statement)).scalars().all()
        return len(changed)


def completed_row(
    base: dict[str, Any], result: AnalysisResult | None, error: ErrorInfo | None
) -> dict[str, Any]:
    return {
        **base,
        "status": "succeeded" if result is not None else "failed",
        "result": result.model_dump(mode="json") if result else None,
        "error": error.model_dump(mode="json") if error else None,
        "completed_at": datetime.now(UTC),
    }
