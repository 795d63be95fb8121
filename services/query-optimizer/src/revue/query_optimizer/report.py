"""Seed 001's `get_optimization_report()`: cache figures, query figures, slow queries, advice.

Every read goes through this service's own query-result cache: a report
asked twice between two batches of events is answered from memory, and a
batch's commit drops exactly the entries built on the tables it wrote.
"""

from __future__ import annotations

from typing import Any

import orjson

from revue.query_optimizer.advice import Advising
from revue.query_optimizer.query_cache import QueryResultCache
from revue.query_optimizer.workload import percentile

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
SELECT id, table_name, columns, statement, improvement_pct, size_bytes, write_overhead,
       fingerprints, method, created_at, updated_at
FROM qo_recommendations WHERE active ORDER BY improvement_pct DESC LIMIT $1
"""


class Reports:
    def __init__(self, cache: QueryResultCache, advising: Advising, ttl: int) -> None:
        self.cache = cache
        self.advising = advising
        self.ttl = ttl

    async def _rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        rows, _ = await self.cache.execute_query(sql, list(params), cache_ttl=self.ttl)
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
