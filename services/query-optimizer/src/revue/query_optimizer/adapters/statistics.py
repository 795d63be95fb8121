"""The repository of the query-optimizer's tables: figures, the slow log, recommendations.

SQLAlchemy Core over `tables`, as everywhere in the suite. One statement is
text on purpose: the figures' upsert merges arrays in SQL (a union of
services, an element-wise sum of histograms) so that concurrent optimizers
never lose counts, which Core's upsert cannot say readably.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.db.query_monitor import UNREPORTED
from revue.query_optimizer.adapters.tables import query_stats, recommendations, slow_queries
from revue.query_optimizer.advisor.selection import Recommendation, WorkloadQuery
from revue.query_optimizer.workload import FingerprintFigures

ADD_FIGURES = text(
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


class QueryStatistics:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(
        self,
        figures: Sequence[FingerprintFigures],
        slow: list[dict[str, Any]],
        slow_log_max_rows: int,
    ) -> None:
        """Add a batch's figures and slow statements in one transaction; trim the log.

        Unreported (see query_monitor): recording query events must not send more of them.
        """
        async with self.engine.begin() as connection:
            await connection.execution_options(**UNREPORTED)
            await connection.execute(
                ADD_FIGURES,
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
            if slow:
                await connection.execute(insert(slow_queries), slow)
                newest = (
                    select(slow_queries.c.id)
                    .order_by(slow_queries.c.executed_at.desc())
                    .offset(slow_log_max_rows)
                )
                await connection.execute(delete(slow_queries).where(slow_queries.c.id.in_(newest)))

    async def workload(self, size: int) -> list[WorkloadQuery]:
        """The fingerprints with the most total time, each with its newest real text."""
        statement = (
            select(query_stats.c.fingerprint, query_stats.c.example, query_stats.c.calls)
            .order_by(query_stats.c.total_ms.desc())
            .limit(size)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [WorkloadQuery(row.fingerprint, row.example, row.calls) for row in rows]

    async def replace_recommendations(
        self, advice: list[Recommendation], method: str
    ) -> list[Recommendation]:
        """Make `advice` the active set; return the recommendations that are new."""
        created = []
        async with self.engine.begin() as connection:
            await connection.execute(
                update(recommendations).where(recommendations.c.active).values(active=False)
            )
            for recommendation in advice:
                values = {
                    "statement": recommendation.statement,
                    "improvement_pct": recommendation.improvement_pct,
                    "measured_improvement_pct": recommendation.measured_improvement_pct,
                    "size_bytes": recommendation.size_bytes,
                    "write_overhead": recommendation.write_overhead,
                    "fingerprints": recommendation.fingerprints,
                    "method": method,
                }
                upsert = (
                    pg_insert(recommendations)
                    .values(
                        table_name=recommendation.index.table,
                        columns=list(recommendation.index.columns),
                        include=list(recommendation.index.include),
                        predicate=recommendation.index.where,
                        **values,
                    )
                    .on_conflict_do_update(
                        index_elements=["table_name", "columns", "include", "predicate"],
                        set_={**values, "active": True, "updated_at": literal_column("now()")},
                    )
                    .returning(literal_column("xmax = 0").label("created"))
                )
                if (await connection.execute(upsert)).scalar_one():
                    created.append(recommendation)
        return created

    async def recommendation(self, recommendation_id: int) -> dict[str, Any] | None:
        """One recommendation with the example text of every statement it helps."""
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(recommendations).where(recommendations.c.id == recommendation_id)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            examples = (
                await connection.execute(
                    select(query_stats.c.fingerprint, query_stats.c.example).where(
                        query_stats.c.fingerprint.in_(row["fingerprints"])
                    )
                )
            ).all()
        return {**row, "examples": [tuple(example) for example in examples]}
