"""The query-optimizer's use cases: record the suite's statements, report, advise.

Free of NATS: `entrypoints/bus.py` decodes events and requests and calls
these. Reports read through the service's own query-result cache (seed 001's
`execute_query`, keyed by statement text): a report asked twice between two
batches of events is answered from memory, and a batch's commit drops
exactly the entries built on the tables it wrote.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.contracts.events import QueryExecuted
from revue.common.db.sql_shape import SqlShapeError, StatementShape, shape_of
from revue.query_optimizer.adapters.statistics import QueryStatistics
from revue.query_optimizer.advice import Advising
from revue.query_optimizer.explain import UnplannableError, explain_read_only
from revue.query_optimizer.query_cache import QueryResultCache
from revue.query_optimizer.settings import QueryOptimizerSettings
from revue.query_optimizer.workload import aggregate, percentile

log = structlog.get_logger("revue.query_optimizer")
events_total = Counter("query_events_total", "db.query.executed events, by outcome", ["outcome"])

# Report statements: text for the query cache, which keys its entries by it.
TOP_QUERIES = """
SELECT fingerprint, normalized, services, tables, calls, total_ms, max_ms, rows, histogram,
       last_seen
FROM qo_query_stats ORDER BY total_ms DESC LIMIT $1
"""
TOTALS = """
SELECT (SELECT count(*) FROM qo_query_stats) AS fingerprints,
       (SELECT coalesce(sum(calls), 0) FROM qo_query_stats) AS calls,
       (SELECT coalesce(sum(total_ms), 0) FROM qo_query_stats) AS total_ms,
       (SELECT count(*) FROM qo_slow_queries) AS total_slow_queries
"""
SLOWEST = """
SELECT fingerprint, service, duration_ms, statement, plan, plan_error, executed_at
FROM qo_slow_queries ORDER BY duration_ms DESC LIMIT $1
"""
RECOMMENDATIONS = """
SELECT id, table_name, columns, include, predicate, statement, improvement_pct,
       measured_improvement_pct, size_bytes, write_overhead, fingerprints, method,
       created_at, updated_at
FROM qo_recommendations WHERE active ORDER BY improvement_pct DESC LIMIT $1
"""


class UnparsableStatementError(ValueError):
    """PostgreSQL's parser refuses the statement: it can never be figured or advised."""


class QueryOptimizerService:
    def __init__(
        self,
        engine: AsyncEngine,
        statistics: QueryStatistics,
        cache: QueryResultCache,
        advising: Advising,
        settings: QueryOptimizerSettings,
    ) -> None:
        self.engine = engine
        self.statistics = statistics
        self.cache = cache
        self.advising = advising
        self.settings = settings

    # --- recording ---------------------------------------------------------------------

    @staticmethod
    def shape(event: QueryExecuted) -> StatementShape:
        try:
            return shape_of(event.statement)
        except SqlShapeError as error:
            # Logged without the text: it may hold personal data.
            log.warning("unparsable statement skipped", service=event.service, error=str(error))
            events_total.labels("unparsable").inc()
            raise UnparsableStatementError(str(error)) from error

    async def record(self, accepted: list[tuple[QueryExecuted, StatementShape]]) -> None:
        """Add a batch of statements to the figures, and the slow ones with plans to the log."""
        slow = [
            (event, shape)
            for event, shape in accepted
            if event.duration_ms >= self.settings.slow_log_ms
        ]
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
        await self.statistics.add(aggregate(accepted), slow_rows, self.settings.slow_log_max_rows)
        events_total.labels("recorded").inc(len(accepted))

    async def _plans(self, statements: set[str]) -> dict[str, tuple[Any, str | None]]:
        """(plan, error) per distinct statement: a batch of repeats is planned once."""
        if not statements:
            return {}
        plans: dict[str, tuple[Any, str | None]] = {}
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            for statement in statements:
                try:
                    plan = await explain_read_only(
                        driver, statement, self.settings.explain_timeout_ms
                    )
                    plans[statement] = (plan, None)
                except UnplannableError as refused:
                    plans[statement] = (None, str(refused)[:2_000])
        return plans

    # --- reports (seed 001's get_optimization_report) -----------------------------------

    async def _rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        rows, _ = await self.cache.execute_query(
            sql, list(params), cache_ttl=self.settings.query_cache_ttl
        )
        return rows

    async def recommendations(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._rows(RECOMMENDATIONS, limit)
        # The seed's names beside the stored ones
        return [
            {
                **row,
                "create_statement": row["statement"],
                "estimated_improvement": row["improvement_pct"],
            }
            for row in rows
        ]

    async def report(self, limit: int) -> dict[str, Any]:
        (totals,) = await self._rows(TOTALS)
        top = []
        for row in await self._rows(TOP_QUERIES, limit):
            histogram = row.pop("histogram")
            calls = row["calls"]
            top.append(
                {
                    **row,
                    "mean_ms": round(row["total_ms"] / calls, 3) if calls else 0.0,
                    "p95_ms": percentile(histogram, 0.95),
                }
            )
        slowest = []
        for row in await self._rows(SLOWEST, limit):
            if isinstance(row["plan"], str):
                row["plan"] = orjson.loads(row["plan"])
            slowest.append(row)
        return {
            "cache_stats": self.cache.stats(),
            "query_stats": totals,
            "top_queries": top,
            "top_slow_queries": slowest,
            "index_recommendations": await self.recommendations(limit),
            "advisor": self.advising.last,
        }
