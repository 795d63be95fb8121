"""Advice checked by execution: build the chosen indexes, run the statements, keep what pays.

The planner's estimates are a guide, not a measurement (a bitmap scan and a
sort it believes cheap can be many times slower than the ordered index walk
it passed over). So the chosen indexes are built for real:

- in a transaction that is always rolled back, on tables up to
  `max_table_bytes` (the build blocks the table's writers meanwhile);
- with `CREATE INDEX CONCURRENTLY` on the target, then dropped, only when the
  operator asked for it (`on_target`);
- otherwise not verified, and said so.

Each SELECT of the workload that reads an index's table runs before and after
with `samples` argument sets drawn from the tables themselves (`verify`), its
server time (planning and execution, `EXPLAIN ANALYZE`) taken as the median.
An index no plan used, or whose statements did not get at least
`min_improvement` faster together, is dropped. Only plain SELECTs run
(`safety`), under a statement timeout, as a role without superuser; the
workload's writes never run.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from revue.common.db.sql_shape import shape_of
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.selection import Recommendation, WorkloadQuery
from revue.query_optimizer.advisor.whatif import IndexSpec, quote
from revue.query_optimizer.explain import decoded
from revue.query_optimizer.verify import StatementTiming, _arguments, reader_role

STATEMENT_TIMEOUT_MS = 30_000
Progress = Callable[[str], None]


@dataclass(kw_only=True)
class ShapeTiming(StatementTiming):
    """A workload shape's timing: a statement's, with its weight and the indexes it used."""

    statement: str
    calls: float
    indexes_used: set[str] = field(default_factory=set)


@dataclass
class Verified:
    kept: list[Recommendation]
    dropped: list[tuple[Recommendation, str]]
    unverified: list[tuple[Recommendation, str]]
    shapes: list[ShapeTiming]
    built_bytes: dict[IndexSpec, int] = field(default_factory=dict)


def _used_indexes(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        for value in plan.values():
            found |= _used_indexes(value)
    elif isinstance(plan, list):
        for item in plan:
            found |= _used_indexes(item)
    return found


async def _timed(
    connection: asyncpg.Connection,
    sql: str,
    arguments: list[tuple],
    role: str | None,
    *,
    nested: bool = False,
) -> tuple[float, set[str]]:
    """Median server milliseconds over the argument sets, and the indexes the plans used.

    Each run is read-only: its own read-only transaction, or (`nested`, inside the
    transaction that built the indexes) a savepoint under the read role.
    """
    explain = await connection.prepare(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
    timings, used = [], set()
    for values in arguments:
        async with connection.transaction(readonly=not nested):
            await connection.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            if role is not None:
                await connection.execute(f"SET LOCAL ROLE {quote(role)}")
            answer = await explain.fetchval(*values)
            if nested:  # the savepoint is released, not ended: undo what it set
                await connection.execute("RESET ROLE")
                await connection.execute("SET LOCAL statement_timeout = 0")
        plan = decoded(answer)[0]
        timings.append(plan["Planning Time"] + plan["Execution Time"])
        used |= _used_indexes(plan["Plan"])
    return round(statistics.median(timings), 3), used


@dataclass
class _Trial:
    """One verification's state: what is built under which name, and the statements' timings."""

    buildable: list[Recommendation]
    names: dict[IndexSpec, str]
    shapes: list[ShapeTiming]
    arguments: dict[str, Any]
    role: str | None
    built: dict[IndexSpec, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyOptions:
    """How advice is checked by execution."""

    samples: int = 10  # argument sets per statement
    max_table_bytes: int = 1024**3  # larger tables are built on only with `on_target`
    on_target: bool = False  # CREATE INDEX CONCURRENTLY on the target, then dropped
    min_improvement: float = 0.05  # an index's statements must get this much faster
    # The budget, in bytes as built: what is kept must fit, the least saving per byte
    # goes first (the choice was made on estimated sizes).
    max_bytes: int | None = None


class AdviceVerifier:
    def __init__(
        self,
        connection: asyncpg.Connection,
        catalog: Catalog,
        options: VerifyOptions | None = None,
        progress: Progress | None = None,
    ) -> None:
        options = options or VerifyOptions()
        self.connection = connection
        self.catalog = catalog
        self.samples = options.samples
        self.max_table_bytes = options.max_table_bytes
        self.on_target = options.on_target
        self.min_improvement = options.min_improvement
        self.max_bytes = options.max_bytes
        self.progress = progress or (lambda _: None)

    async def verify(
        self, recommendations: list[Recommendation], workload: list[WorkloadQuery]
    ) -> Verified:
        buildable, unverified = [], []
        for recommendation in recommendations:
            table = self.catalog.tables[recommendation.index.table]
            if table.bytes <= self.max_table_bytes or self.on_target:
                buildable.append(recommendation)
            else:
                unverified.append(
                    (recommendation, f"table {table.name} is {table.bytes:,} bytes, over the "
                     "verification limit: ask for --verify-on-target to build it there")
                )  # fmt: skip
        tables = {r.index.table for r in buildable}
        role = await reader_role(self.connection)
        shapes = await self._shapes(workload, tables)
        runnable = [shape for shape in shapes if shape.skipped is None]
        arguments = {}
        for number, shape in enumerate(runnable, start=1):
            self.progress(f"verifying: timing {number}/{len(runnable)} statements without")
            arguments[shape.fingerprint] = found = await _arguments(
                self.connection, shape.statement, self.catalog, self.samples
            )
            if isinstance(found, str) or not found:
                shape.skipped = found or "no rows to draw arguments from"
                continue
            await _timed(self.connection, shape.statement, found[:1], role)  # warm the cache
            shape.before_ms, _ = await _timed(self.connection, shape.statement, found, role)
        names = {r.index: f"revue_advice_{n}" for n, r in enumerate(buildable)}
        trial = _Trial(buildable, names, shapes, arguments, role)
        if self.on_target:
            await self._after_concurrently(trial)
        else:
            await self._after_rolled_back(trial)
        kept, dropped = self._judge(buildable, names, shapes, trial.built)
        return Verified(kept, dropped, unverified, shapes, trial.built)

    async def _shapes(self, workload: list[WorkloadQuery], tables: set[str]) -> list[ShapeTiming]:
        shapes = []
        for query in workload:
            shape = ShapeTiming(query.fingerprint, statement=query.statement, calls=query.calls)
            try:
                reads = shape_of(query.statement)
            except ValueError as error:  # reported by the advice already
                shape.skipped = f"does not parse: {error}"
            else:
                if reads.kind != "select":
                    shape.skipped = "a write: never executed (its cost is estimated)"
                elif not reads.reads & tables:
                    continue
            shapes.append(shape)
        return shapes

    async def _time_after(
        self,
        shapes: list[ShapeTiming],
        arguments: dict[str, Any],
        role: str | None,
        nested: bool,
    ) -> None:
        timed = [s for s in shapes if s.skipped is None and s.before_ms is not None]
        for number, shape in enumerate(timed, start=1):
            self.progress(f"verifying: timing {number}/{len(timed)} statements with the indexes")
            found = arguments[shape.fingerprint]
            await _timed(self.connection, shape.statement, found[:1], role, nested=nested)
            shape.after_ms, shape.indexes_used = await _timed(
                self.connection, shape.statement, found, role, nested=nested
            )

    async def _build(self, trial: _Trial, *, concurrently: bool) -> None:
        for number, recommendation in enumerate(trial.buildable, start=1):
            how = " concurrently" if concurrently else ""
            self.progress(
                f"verifying: building {number}/{len(trial.buildable)} {recommendation.index}{how}"
            )
            name = trial.names[recommendation.index]
            await self.connection.execute(
                recommendation.index.ddl(concurrently=concurrently, name=name)
            )
            trial.built[recommendation.index] = int(
                await self.connection.fetchval(
                    "SELECT pg_relation_size(to_regclass($1))", quote(name)
                )
            )

    async def _after_rolled_back(self, trial: _Trial) -> None:
        transaction = self.connection.transaction()
        await transaction.start()
        try:
            await self._build(trial, concurrently=False)
            await self._time_after(trial.shapes, trial.arguments, trial.role, nested=True)
        finally:
            await transaction.rollback()  # every index and every read gone with it

    async def _after_concurrently(self, trial: _Trial) -> None:
        try:
            await self._build(trial, concurrently=True)
            await self._time_after(trial.shapes, trial.arguments, trial.role, nested=False)
        finally:
            for name in trial.names.values():
                await self.connection.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")

    def _judge(
        self,
        buildable: list[Recommendation],
        names: dict[IndexSpec, str],
        shapes: list[ShapeTiming],
        built: dict[IndexSpec, int],
    ) -> tuple[list[Recommendation], list[tuple[Recommendation, str]]]:
        kept, dropped = [], []
        saved: dict[IndexSpec, float] = {}
        timed = [s for s in shapes if s.before_ms is not None and s.after_ms is not None]
        for recommendation in buildable:
            name = names[recommendation.index]
            users = [s for s in timed if name in s.indexes_used]
            if not users:
                dropped.append((recommendation, "no plan used it when it was built"))
                continue
            before = sum(s.calls * s.before_ms for s in users)  # type: ignore[operator]
            after = sum(s.calls * s.after_ms for s in users)  # type: ignore[operator]
            if before - after < self.min_improvement * before:
                dropped.append(
                    (recommendation, f"its statements were not faster for real "
                     f"({before:.1f} -> {after:.1f} ms per call set)")
                )  # fmt: skip
                continue
            recommendation.measured_improvement_pct = round(100 * (1 - after / before), 2)
            recommendation.size_bytes = built.get(recommendation.index, recommendation.size_bytes)
            saved[recommendation.index] = before - after
            kept.append(recommendation)
        if self.max_bytes is not None:
            # Least measured saving per built byte first, until the rest fits.
            by_value = sorted(kept, key=lambda r: saved[r.index] / max(r.size_bytes, 1))
            while by_value and sum(r.size_bytes for r in by_value) > self.max_bytes:
                cheapest = by_value.pop(0)
                kept.remove(cheapest)
                dropped.append(
                    (cheapest, f"over the byte budget as built ({cheapest.size_bytes:,} bytes; "
                     "it saved the least per byte)")
                )  # fmt: skip
        return kept, dropped
