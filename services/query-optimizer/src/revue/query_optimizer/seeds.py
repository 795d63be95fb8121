"""Seed 001's `QueryOptimizer`, as its users call it, over the query-optimizer's machinery.

    optimizer = QueryOptimizer(engine, slow_threshold_ms=100, redis=redis)
    rows, duration_ms = await optimizer.execute_query(
        "SELECT * FROM projects WHERE owner_id = $1", {"owner_id": user_id},
        use_cache=True, cache_ttl=300,
    )
    await optimizer.invalidate_cache_for_table("projects")
    optimizer.get_slow_queries()
    await optimizer.get_index_recommendations()

Results go through `QueryResultCache` (L1, and L2 when given Redis; tagged by
every table read, dropped on writes); statements at or over the threshold
are kept with their plans; advice is the service's own advisor
(`advice.advise_workload`) over the statements seen, weighted by their calls.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.cache.l2 import L2RedisCache
from revue.common.db.sql_shape import SqlShapeError, shape_of
from revue.query_optimizer.advice import advise_workload
from revue.query_optimizer.advisor.selection import Budget, WorkloadQuery
from revue.query_optimizer.explain import UnplannableError, explain_read_only
from revue.query_optimizer.query_cache import QueryResultCache

log = structlog.get_logger("revue.query_optimizer.seeds")
MAX_SLOW_KEPT = 1_000


@dataclass(frozen=True, slots=True)
class SlowQuery:
    fingerprint: str
    duration_ms: float
    statement: str
    plan: Any


class QueryOptimizer:
    def __init__(
        self,
        db: AsyncEngine,
        slow_threshold_ms: float = 100,
        *,
        redis: Redis | None = None,
        namespace: str = "revue",
        default_ttl: int = 300,
        explain_timeout_ms: int = 2_000,
    ) -> None:
        self.db = db
        self.slow_threshold_ms = slow_threshold_ms
        self.explain_timeout_ms = explain_timeout_ms
        l2 = L2RedisCache(redis, namespace) if redis is not None else None
        self.cache = QueryResultCache(db, l2, default_ttl=default_ttl)
        self.calls: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.slow: list[SlowQuery] = []

    async def execute_query(
        self,
        query: str,
        params: Any = None,
        use_cache: bool = True,
        cache_ttl: int | None = None,
    ) -> tuple[list[dict[str, Any]], float]:
        """Rows and the milliseconds they took; cached by statement and parameters."""
        rows, duration_ms = await self.cache.execute_query(
            query, params, use_cache=use_cache, cache_ttl=cache_ttl
        )
        with contextlib.suppress(SqlShapeError):
            fingerprint = shape_of(query).fingerprint
            self.calls[fingerprint] += 1
            self.examples[fingerprint] = query
            if duration_ms >= self.slow_threshold_ms:
                await self._keep_slow(fingerprint, query, duration_ms)
        return rows, duration_ms

    async def invalidate_cache_for_table(self, table: str) -> int:
        """Drop every cached result read from `table` (here and in the shared tier)."""
        return await self.cache.invalidate_cache_for_table(table)

    def get_slow_queries(self) -> list[dict[str, Any]]:
        return [
            {
                "query_hash": slow.fingerprint,
                "duration_ms": round(slow.duration_ms, 3),
                "statement": slow.statement,
                "plan": slow.plan,
            }
            for slow in sorted(self.slow, key=lambda slow: -slow.duration_ms)
        ]

    async def get_index_recommendations(
        self, max_indexes: int = 10, rollback_max_table_bytes: int = 100 * 1024**2
    ) -> list[dict[str, Any]]:
        """Indexes for the statements seen, in the seed's shape, with the CREATE statement."""
        workload = [
            WorkloadQuery(fingerprint, self.examples[fingerprint], float(calls))
            for fingerprint, calls in self.calls.most_common(200)
        ]
        async with self.db.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            run = await advise_workload(
                driver, workload, Budget(max_indexes=max_indexes), rollback_max_table_bytes
            )
        return [
            {
                "table_name": recommendation.index.table,
                "columns": list(recommendation.index.columns),
                "create_statement": recommendation.statement,
                "estimated_improvement": round(recommendation.improvement_pct, 1),
                "size_bytes": recommendation.size_bytes,
            }
            for recommendation in run.advice.recommendations
        ]

    async def _keep_slow(self, fingerprint: str, statement: str, duration_ms: float) -> None:
        plan: Any = None
        async with self.db.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            try:
                plan = await explain_read_only(driver, statement, self.explain_timeout_ms)
            except UnplannableError as refused:
                plan = {"error": str(refused)[:500]}
        log.info("slow query", query_hash=fingerprint, duration_ms=round(duration_ms, 3))
        self.slow.append(SlowQuery(fingerprint, duration_ms, statement, plan))
        del self.slow[:-MAX_SLOW_KEPT]
