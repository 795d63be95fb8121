"""The workload-wide index choice: the set that saves the most, within a budget.

Benefit of an index = sum over the statements on its table of
calls x (planner cost now - planner cost with it), minus its write overhead:
for every statement that writes the table, calls x cost x (index entry size /
row size), pganalyze's "index write overhead". Under a byte budget the choice
is a knapsack: indexes are taken greedily by benefit per byte (so the many
cheap decisive indexes are not crowded out by the first large one), and,
separately, by benefit alone; the set that leaves the workload cheaper wins.
Both passes re-evaluate lazily and pass over an index that does not fit for
the next that does; a wider index may replace the narrower ones it covers.
Then a look-ahead (`swaps`): a larger index the greedy pass could no longer
fit is traded for the chosen ones worth least per byte, when the trade
leaves the workload cheaper.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pglast
import structlog

from revue.common.db.sql_shape import shape_of
from revue.query_optimizer.advisor.candidates import candidates_for
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import TableUsage, parameter_count, table_usage
from revue.query_optimizer.advisor.swaps import improve_by_swaps
from revue.query_optimizer.advisor.whatif import IndexSpec, WhatIf
from revue.query_optimizer.explain import UnplannableError

log = structlog.get_logger("revue.query_optimizer.advisor")
# A key is hot when it holds more than this many times an average key's share of rows.
SKEW = 5.0
PAGE_BYTES = 8192  # no index is smaller than a page: the floor of a size in a ratio
# Two choices whose workload costs are this close are equal: the smaller one wins
# when it is smaller by as much.
NEAR = 0.02


@dataclass(frozen=True, slots=True)
class WorkloadQuery:
    fingerprint: str
    statement: str
    calls: float


@dataclass(frozen=True, slots=True)
class Budget:
    max_indexes: int = 10
    max_bytes: int = 1 << 34
    max_columns: int = 4
    # An index must save at least this share of the cost of the statements it helps.
    min_improvement: float = 0.05


@dataclass
class Recommendation:
    index: IndexSpec
    improvement_pct: float
    size_bytes: int
    fingerprints: list[str]
    write_overhead: float
    # Measured by execution (`verification`), when the advice was verified.
    measured_improvement_pct: float | None = None

    @property
    def statement(self) -> str:
        return self.index.ddl(concurrently=True)


@dataclass
class Advice:
    method: str
    recommendations: list[Recommendation]
    cost_before: float
    cost_after: float
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class _Query:
    query: WorkloadQuery
    tables: frozenset[str]
    writes: frozenset[str]
    base: float
    # Its arguments set to the columns' most common values, and how often that happens.
    hot: tuple[list[str | None], float] | None = None


class _Workload:
    """The statements by the tables they read and write, and the workload's total cost."""

    def __init__(self, queries: list[_Query]) -> None:
        self.queries = queries
        self.on_table: dict[str, list[_Query]] = defaultdict(list)
        self.writers: dict[str, list[_Query]] = defaultdict(list)
        for query in queries:
            for table in query.tables:
                self.on_table[table].append(query)
            for table in query.writes:
                self.writers[table].append(query)

    def total(self, costs: dict[int, float]) -> float:
        return sum(query.query.calls * costs[id(query)] for query in self.queries)

    def write_cost(self, catalog: Catalog, config: Sequence[IndexSpec]) -> float:
        """What keeping `config` up to date adds to the workload's writes."""
        added = 0.0
        for index in config:
            info = catalog.tables[index.table]
            share = info.entry_width((*index.columns, *index.include)) / max(info.row_width, 1)
            added += sum(w.query.calls * w.base * share for w in self.writers[index.table])
        return added


class IndexAdvisor:
    def __init__(
        self,
        whatif: WhatIf,
        catalog: Catalog,
        budget: Budget | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.whatif = whatif
        self.catalog = catalog
        self.budget = budget or Budget()
        self.progress = progress or (lambda _: None)
        self._costs: dict[tuple[str, tuple[IndexSpec, ...]], float] = {}

    async def cost(self, query: _Query, config: Sequence[IndexSpec]) -> float:
        """Expected planner cost: the generic plan, blended with the hot key's plan.

        A generic plan assumes an average key. On skewed data the most common
        key matches far more rows, and an index that spares it a sort or a
        filter is worth more than the average says: its plan is weighted by
        the share of rows that key holds.
        """
        relevant = tuple(sorted(i for i in config if i.table in query.tables))
        generic = await self._cost(query.query.statement, relevant, None)
        if query.hot is None:
            return generic
        values, share = query.hot
        hot = await self._cost(query.query.statement, relevant, values)
        return (1 - share) * generic + share * hot

    async def _cost(
        self, statement: str, config: tuple[IndexSpec, ...], values: list[str | None] | None
    ) -> float:
        key = (statement, config, tuple(values) if values is not None else None)
        if key not in self._costs:
            self._costs[key] = await self.whatif.cost(statement, config, values)
        return self._costs[key]

    def _hot_arguments(
        self, statement: str, usage: dict[str, TableUsage]
    ) -> tuple[list[str | None], float] | None:
        """Every `$n` set to its column's most common value, when that key is skewed."""
        count = parameter_count(statement)
        owners = {n: (u.table, c) for u in usage.values() for n, c in u.parameters.items()}
        if count == 0 or any(n not in owners for n in range(1, count + 1)):
            return None
        values, share = [], 0.0
        for number in range(1, count + 1):
            table, column = owners[number]
            stats = self.catalog.tables[table].columns.get(column)
            if stats is None or stats.common is None:
                return None
            values.append(stats.common)
            if stats.distinct and stats.common_freq > SKEW / stats.distinct:
                share = max(share, stats.common_freq)
        return (values, share) if share else None

    async def advise(self, workload: Sequence[WorkloadQuery]) -> Advice:
        queries, skipped, pool = await self._prepare(workload)
        plan = _Workload(queries)
        self.progress(f"{len(pool)} candidate indexes for {len(queries)} statements")
        sizes = {index: await self.whatif.size(index) for index in sorted(pool)}
        # Two greedy passes over the same costs: by benefit per byte (a knapsack's
        # ratio rule: many cheap decisive indexes before one large one), and by benefit
        # (a large index that alone is worth more than the cheap ones together).
        # The one that leaves the workload cheaper wins; costs are cached, so the
        # second pass costs little.
        self.progress("choosing by benefit per byte")
        by_ratio = await self._greedy(plan, pool, sizes, per_byte=True)
        self.progress("choosing by benefit")
        by_benefit = await self._greedy(plan, pool, sizes, per_byte=False)
        chosen, current = self._cheaper(plan, sizes, by_ratio, by_benefit)
        self.progress("looking ahead: trading chosen indexes for larger ones that fit")
        chosen, current = await improve_by_swaps(self, plan, pool, sizes, chosen)
        recommendations = await self._explain_choice(queries, chosen, current)
        await self.whatif.clear()
        return Advice(
            method=self.whatif.method,
            recommendations=recommendations,
            cost_before=plan.total({id(q): q.base for q in queries}),
            cost_after=plan.total(current),
            skipped=skipped,
        )

    def _cheaper(
        self,
        plan: _Workload,
        sizes: dict[IndexSpec, int],
        *outcomes: tuple[list[IndexSpec], dict[int, float]],
    ) -> tuple[list[IndexSpec], dict[int, float]]:
        """The outcome that leaves the workload cheapest, writes included, unless one
        within `NEAR` of its cost takes `NEAR` fewer bytes: then the smallest such (the
        planner's last percent is not worth an index's bytes and upkeep)."""

        def cost(outcome: tuple[list[IndexSpec], dict[int, float]]) -> float:
            return plan.total(outcome[1]) + plan.write_cost(self.catalog, outcome[0])

        def size(outcome: tuple[list[IndexSpec], dict[int, float]]) -> int:
            return sum(sizes[index] for index in outcome[0])

        cheapest = min(outcomes, key=cost)
        smaller = [
            outcome
            for outcome in outcomes
            if cost(outcome) <= cost(cheapest) * (1 + NEAR)
            and size(outcome) < size(cheapest) * (1 - NEAR)
        ]
        return min(smaller, key=size) if smaller else cheapest

    async def _greedy(
        self,
        plan: _Workload,
        pool: set[IndexSpec],
        sizes: dict[IndexSpec, int],
        *,
        per_byte: bool,
    ) -> tuple[list[IndexSpec], dict[int, float]]:
        """Indexes taken one at a time by the best score, lazily re-scored (a score only
        shrinks as the set grows, so a stale score that still tops the heap after
        re-scoring is the true best); one that does not fit the byte budget is passed
        over and the next tried."""
        current = {id(query): query.base for query in plan.queries}
        chosen: list[IndexSpec] = []

        def replaced_by(index: IndexSpec) -> list[IndexSpec]:
            return [other for other in chosen if index.covers(other)]

        def config_with(index: IndexSpec) -> list[IndexSpec]:
            return [other for other in chosen if not index.covers(other)] + [index]

        def overhead(index: IndexSpec) -> float:
            info = self.catalog.tables[index.table]
            added = info.entry_width((*index.columns, *index.include))
            freed = sum(info.entry_width((*o.columns, *o.include)) for o in replaced_by(index))
            ratio = (added - freed) / max(info.row_width, 1)
            return sum(w.query.calls * w.base * ratio for w in plan.writers[index.table])

        async def score(index: IndexSpec) -> float:
            config = config_with(index)
            saved = helped_cost = 0.0
            for query in plan.on_table[index.table]:
                now = query.query.calls * current[id(query)]
                with_index = query.query.calls * await self.cost(query, config)
                if with_index < now:
                    saved, helped_cost = saved + now - with_index, helped_cost + now
                else:  # a replaced narrower index may have served this one better
                    saved -= with_index - now
            if saved < self.budget.min_improvement * helped_cost:
                return 0.0
            net = saved - overhead(index)
            if not per_byte or net <= 0:
                return net
            bytes_added = sizes[index] - sum(sizes.get(old, 0) for old in replaced_by(index))
            return net / max(bytes_added, PAGE_BYTES)

        order = itertools.count()
        heap = [(-(await score(index)), next(order), index) for index in sorted(pool)]
        heapq.heapify(heap)
        used_bytes = 0
        while heap and len(chosen) < self.budget.max_indexes:
            bound, _, index = heapq.heappop(heap)
            if -bound <= 0:
                break
            if any(other.covers(index) for other in chosen):
                continue
            value = await score(index)
            if heap and value < -heap[0][0]:
                heapq.heappush(heap, (-value, next(order), index))
                continue
            if value <= 0:
                continue
            freed = sum(sizes.get(old, 0) for old in replaced_by(index))
            if used_bytes + sizes[index] - freed > self.budget.max_bytes:
                continue  # too large for what is left: the next may fit
            chosen[:] = config_with(index)
            used_bytes += sizes[index] - freed
            for query in plan.on_table[index.table]:
                current[id(query)] = await self.cost(query, chosen)
        return chosen, current

    async def _prepare(
        self, workload: Sequence[WorkloadQuery]
    ) -> tuple[list[_Query], dict[str, str], set[IndexSpec]]:
        queries, skipped, pool = [], {}, set()
        for item in workload:
            try:
                shape = shape_of(item.statement)
                usage = table_usage(item.statement, self.catalog.columns_of)
                known = frozenset(t for t in shape.reads if t in self.catalog.tables)
                query = _Query(item, known, shape.writes & known, 0.0)
                if shape.kind == "select":
                    query.hot = self._hot_arguments(item.statement, usage)
                query.base = await self.cost(query, [])
            except (UnplannableError, pglast.parser.ParseError, ValueError) as error:
                skipped[item.fingerprint] = str(error)
                continue
            queries.append(query)
            for table_use in usage.values():
                pool |= candidates_for(table_use, self.catalog, self.budget.max_columns)
        return queries, skipped, pool

    async def _explain_choice(
        self,
        queries: list[_Query],
        chosen: list[IndexSpec],
        current: dict[int, float],
    ) -> list[Recommendation]:
        recommendations = []
        for index in chosen:
            without = [other for other in chosen if other != index]
            before = after = 0.0
            helped = []
            for query in queries:
                if index.table not in query.tables:
                    continue
                cost_without = await self.cost(query, without)
                if current[id(query)] < cost_without:
                    helped.append(query.query.fingerprint)
                    before += query.query.calls * cost_without
                    after += query.query.calls * current[id(query)]
            if not helped:
                continue
            recommendations.append(
                Recommendation(
                    index=index,
                    improvement_pct=round(100 * (1 - after / before), 2) if before else 0.0,
                    size_bytes=await self.whatif.size(index),
                    fingerprints=helped,
                    write_overhead=round(
                        self.catalog.tables[index.table].entry_width(index.columns)
                        / max(self.catalog.tables[index.table].row_width, 1),
                        4,
                    ),
                )
            )
        return recommendations
