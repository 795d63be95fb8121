"""One advice run: the recorded workload -> index recommendations, stored and announced.

The workload is the fingerprints with the most total time, each with its
newest real text and its estimated calls. Candidates are costed with hypopg
where the extension is available; where it is not, the report says so and
the advisor builds real indexes in rolled-back transactions, on tables under
`advisor_rollback_max_table_bytes` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.contracts.events import RecommendationCreated
from revue.common.db.sql_shape import SqlShapeError, shape_of
from revue.query_optimizer.adapters.statistics import QueryStatistics
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.selection import (
    Advice,
    Budget,
    IndexAdvisor,
    WorkloadQuery,
)
from revue.query_optimizer.advisor.verification import (
    AdviceVerifier,
    Progress,
    Verified,
    VerifyOptions,
)
from revue.query_optimizer.advisor.whatif import (
    HypotheticalIndexes,
    RolledBackIndexes,
    WhatIf,
    hypopg_available,
)
from revue.query_optimizer.pg_stat_statements import merge, read_statements
from revue.query_optimizer.settings import QueryOptimizerSettings

log = structlog.get_logger("revue.query_optimizer.advice")
Announce = Callable[[RecommendationCreated], Awaitable[None]]

NO_HYPOPG = (
    "hypopg is not installed in this database: `CREATE EXTENSION hypopg` as a superuser once "
    "its package is on the server (Debian and Ubuntu: postgresql-{major}-hypopg; elsewhere "
    "from source, github.com/HypoPG/hypopg). Meanwhile candidate indexes were built for real "
    "inside rolled-back transactions, on tables up to {limit:,} bytes only."
)


@dataclass
class AdviceRun:
    """One advice run: the advice, what was skipped and why, how costs were asked, and
    (when asked) what execution showed."""

    advice: Advice
    skipped: dict[str, str]
    note: str | None
    verified: Verified | None = None
    statements: int = 0


async def advise_workload(
    driver: asyncpg.Connection,
    workload: list[WorkloadQuery],
    budget: Budget,
    rollback_max_table_bytes: int,
    *,
    verify: VerifyOptions | None = None,
    progress: Progress | None = None,
) -> AdviceRun:
    """The advisor over a workload, on the database `driver` is connected to.

    Costs come from hypopg's hypothetical indexes where the extension is
    installed, else from real indexes built in transactions that are rolled
    back, on tables up to `rollback_max_table_bytes` only (the build blocks
    their writers meanwhile). A statement naming a table the database does not
    have is skipped and said so. With `verify`, the choice is built and timed
    for real and what does not pay its way is dropped (`verification`).
    """
    say = progress or (lambda _: None)
    tables: set[str] = set()
    shapes = {}
    for query in workload:
        with contextlib.suppress(SqlShapeError):
            shapes[query.fingerprint] = shape_of(query.statement)
            tables |= shapes[query.fingerprint].reads | shapes[query.fingerprint].writes
    catalog = await Catalog.load(driver, tables)
    skipped: dict[str, str] = {}
    known = []
    for query in workload:
        shape = shapes.get(query.fingerprint)
        unknown = sorted((shape.reads | shape.writes) - set(catalog.tables)) if shape else []
        if unknown:
            skipped[query.fingerprint] = f"names a table this database lacks: {', '.join(unknown)}"
        else:
            known.append(query)
    whatif: WhatIf
    note = None
    if await hypopg_available(driver):
        whatif = HypotheticalIndexes(driver, catalog)
    else:
        major = await driver.fetchval("SELECT current_setting('server_version_num')::int / 10000")
        note = NO_HYPOPG.format(major=major, limit=rollback_max_table_bytes)
        whatif = RolledBackIndexes(
            driver,
            {name: info.bytes <= rollback_max_table_bytes for name, info in catalog.tables.items()},
        )
    say(f"advising on {len(known)} statements over {len(catalog.tables)} tables ({whatif.method})")
    try:
        advice = await IndexAdvisor(whatif, catalog, budget, progress=say).advise(known)
    finally:
        await whatif.clear()
    skipped |= advice.skipped
    run = AdviceRun(advice, skipped, note, statements=len(known))
    if verify is not None and advice.recommendations:
        if verify.max_bytes is None:  # the budget holds for the bytes as built too
            verify = replace(verify, max_bytes=budget.max_bytes)
        verifier = AdviceVerifier(driver, catalog, verify, say)
        run.verified = await verifier.verify(advice.recommendations, known)
        advice.recommendations = run.verified.kept + [r for r, _ in run.verified.unverified]
    return run


class Advising:
    def __init__(
        self,
        engine: AsyncEngine,
        statistics: QueryStatistics,
        settings: QueryOptimizerSettings,
        announce: Announce,
    ) -> None:
        self.engine = engine
        self.statistics = statistics
        self.settings = settings
        self.announce = announce
        self.last: dict[str, Any] = {"ran_at": None}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def budget(self) -> Budget:
        return Budget(
            max_indexes=self.settings.advisor_max_indexes,
            max_bytes=self.settings.advisor_max_index_bytes,
            max_columns=self.settings.advisor_max_index_columns,
            min_improvement=self.settings.advisor_min_improvement,
        )

    def verify_options(self) -> VerifyOptions | None:
        if not self.settings.advisor_verify:
            return None
        return VerifyOptions(
            samples=self.settings.advisor_verify_samples,
            max_table_bytes=self.settings.advisor_verify_max_table_bytes,
            min_improvement=self.settings.advisor_min_improvement,
        )

    async def run_once(self) -> Advice:
        async with self._lock:  # one run at a time: they share one planner session
            return await self._run()

    async def _run(self) -> Advice:
        started = time.perf_counter()
        recorded = await self.statistics.workload(self.settings.advisor_workload_size)
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            server, server_note = await read_statements(driver, self.settings.advisor_workload_size)
            workload = merge(recorded, server)
            run = await advise_workload(
                driver,
                workload,
                self.budget(),
                self.settings.advisor_rollback_max_table_bytes,
                verify=self.verify_options(),
            )
            advice = run.advice
        created = await self.statistics.replace_recommendations(
            advice.recommendations, advice.method
        )
        for recommendation in created:
            await self.announce(
                RecommendationCreated(
                    table=recommendation.index.table,
                    columns=list(recommendation.index.columns),
                    statement=recommendation.statement,
                    estimated_improvement_pct=recommendation.improvement_pct,
                    estimated_size_bytes=recommendation.size_bytes,
                    fingerprints=recommendation.fingerprints[:256],
                )
            )
        self.last = {
            "ran_at": datetime.now(UTC).isoformat(),
            "seconds": round(time.perf_counter() - started, 3),
            "method": advice.method,
            "note": run.note,
            "statements": len(workload),
            "pg_stat_statements": server_note,
            "skipped": len(advice.skipped),
            "verified": run.verified is not None,
            "dropped_after_verification": [
                {"index": str(r.index), "reason": why} for r, why in run.verified.dropped
            ]
            if run.verified
            else [],
            "workload_cost_before": round(advice.cost_before, 2),
            "workload_cost_after": round(advice.cost_after, 2),
        }
        log.info("index advice", **{k: v for k, v in self.last.items() if k != "note"})
        return advice

    # --- on a timer ---------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.advisor_interval_s > 0:
            self._task = asyncio.create_task(self._every_interval(), name="index-advice")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.settings.advisor_interval_s)
            try:
                await self.run_once()
            except Exception:  # the next run may succeed: keep the timer alive
                log.exception("index advice failed")
