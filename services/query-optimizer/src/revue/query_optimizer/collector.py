"""`db.query.executed` from JetStream -> per-fingerprint figures and the slow-query log.

A batch is acknowledged once its figures are in Postgres (one upsert per
fingerprint, figures added in SQL, so concurrent optimizers do not lose
counts); if the database is down the batch is nak'ed and comes back.
Malformed events and statements PostgreSQL's parser refuses are logged
without their text (it may hold personal data) and dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import orjson
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.bus.pull_consumer import PullConsumer, valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import QueryExecuted
from revue.common.contracts.streams import QUERY_EVENTS
from revue.common.contracts.subjects import BusTopology
from revue.common.db.sql_shape import SqlShapeError, StatementShape, shape_of
from revue.query_optimizer.explain import UnplannableError, explain_read_only
from revue.query_optimizer.workload import aggregate

log = structlog.get_logger("revue.query_optimizer.collector")
events_total = Counter("query_events_total", "db.query.executed events, by outcome", ["outcome"])

UPSERT = text(
    """
    INSERT INTO qo_query_stats AS s
        (fingerprint, normalized, example, services, tables, calls, total_ms, max_ms, rows,
         histogram, last_seen)
    VALUES (:fingerprint, :normalized, :example, :services, :tables, :calls, :total_ms,
            :max_ms, :rows, :histogram, now())
    ON CONFLICT (fingerprint) DO UPDATE SET
        example = excluded.example,
        services = ARRAY(SELECT DISTINCT unnest(s.services || excluded.services) ORDER BY 1),
        tables = excluded.tables,
        calls = s.calls + excluded.calls,
        total_ms = s.total_ms + excluded.total_ms,
        max_ms = greatest(s.max_ms, excluded.max_ms),
        rows = s.rows + excluded.rows,
        histogram = ARRAY(
            SELECT coalesce(a, 0) + coalesce(b, 0)
            FROM unnest(s.histogram, excluded.histogram) WITH ORDINALITY AS h(a, b, i)
            ORDER BY i),
        last_seen = now()
    """
)
SLOW = text(
    """
    INSERT INTO qo_slow_queries
        (fingerprint, service, duration_ms, statement, plan, plan_error, executed_at)
    VALUES (:fingerprint, :service, :duration_ms, :statement, CAST(:plan AS jsonb), :plan_error,
            :executed_at)
    """
)
TRIM = text(
    """
    DELETE FROM qo_slow_queries WHERE id IN (
        SELECT id FROM qo_slow_queries ORDER BY executed_at DESC OFFSET :keep)
    """
)


class QueryEvents:
    def __init__(
        self,
        nats: Callable[[], Client],
        topology: BusTopology,
        engine: AsyncEngine,
        *,
        durable: str,
        slow_ms: float,
        explain_timeout_ms: int,
        slow_log_max_rows: int,
    ) -> None:
        self.engine = engine
        self.slow_ms = slow_ms
        self.explain_timeout_ms = explain_timeout_ms
        self.slow_log_max_rows = slow_log_max_rows
        self.consumer = PullConsumer(
            nats,
            subject=topology.subject(subjects.DB_QUERY_EXECUTED),
            stream=topology.stream(QUERY_EVENTS.name),
            durable=durable,
            ack_wait=60,
            handler=self._record,
        )
        self.start = self.consumer.start
        self.stop = self.consumer.stop

    async def _record(self, messages: list[Msg]) -> None:
        valid = await valid_events(messages, QueryExecuted)
        events_total.labels("malformed").inc(len(messages) - len(valid))
        accepted: list[tuple[QueryExecuted, StatementShape]] = []
        usable: list[Msg] = []
        for message, event in valid:
            try:
                shape = shape_of(event.statement)
            except SqlShapeError as error:
                log.warning("unparsable statement skipped", service=event.service, error=str(error))
                events_total.labels("unparsable").inc()
                await message.term()
                continue
            accepted.append((event, shape))
            usable.append(message)
        if not accepted:
            return
        try:
            await self._store(accepted)
        except Exception as error:
            log.warning("query figures not stored; redelivery follows", error=str(error))
            await asyncio.gather(*(message.nak(delay=2) for message in usable))
            return
        events_total.labels("recorded").inc(len(accepted))
        await asyncio.gather(*(message.ack() for message in usable))

    async def _store(self, accepted: list[tuple[QueryExecuted, StatementShape]]) -> None:
        figures = aggregate(accepted)
        slow = [(event, shape) for event, shape in accepted if event.duration_ms >= self.slow_ms]
        plans = await self._plans({event.statement for event, _ in slow})
        slow_rows = [
            {
                "fingerprint": shape.fingerprint,
                "service": event.service,
                "duration_ms": event.duration_ms,
                "statement": event.statement,
                "plan": plans[event.statement][0],
                "plan_error": plans[event.statement][1],
                "executed_at": event.executed_at,
            }
            for event, shape in slow
        ]
        async with self.engine.begin() as connection:
            await connection.execute(
                UPSERT,
                [
                    {
                        "fingerprint": f.fingerprint,
                        "normalized": f.normalized,
                        "example": f.example,
                        "services": sorted(f.services),
                        "tables": f.tables,
                        "calls": f.calls,
                        "total_ms": f.total_ms,
                        "max_ms": f.max_ms,
                        "rows": f.rows,
                        "histogram": f.histogram,
                    }
                    for f in sorted(figures, key=lambda f: f.fingerprint)  # one lock order
                ],
            )
            if slow_rows:
                await connection.execute(SLOW, slow_rows)
                await connection.execute(TRIM, {"keep": self.slow_log_max_rows})

    async def _plans(self, statements: set[str]) -> dict[str, tuple[str | None, str | None]]:
        """(plan JSON, error) per distinct statement: a batch of repeats is planned once."""
        if not statements:
            return {}
        plans: dict[str, tuple[str | None, str | None]] = {}
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            for statement in statements:
                try:
                    plan = await explain_read_only(driver, statement, self.explain_timeout_ms)
                    plans[statement] = (orjson.dumps(plan).decode(), None)
                except UnplannableError as refused:
                    plans[statement] = (None, str(refused)[:2_000])
        return plans
