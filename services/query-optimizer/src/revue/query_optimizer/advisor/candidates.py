"""Candidate indexes for one table's use in one statement.

The classic column order for a b-tree: equality columns first (most selective
first, by pg_stats' distinct counts), then one range column, or the sort /
group columns so rows come out in order. Narrower variants (the equality
columns alone, the most selective one, each join key) are offered too: the
workload-wide choice decides which one pays, and one index may serve several
statements through its prefix.
"""

from __future__ import annotations

from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import TableUsage
from revue.query_optimizer.advisor.whatif import IndexSpec


def _unique(columns: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(columns))


def candidates_for(usage: TableUsage, catalog: Catalog, max_columns: int) -> set[IndexSpec]:
    info = catalog.tables.get(usage.table)
    if info is None:
        return set()

    def by_selectivity(columns: list[str]) -> list[str]:
        return sorted(columns, key=lambda column: -catalog.distinct(usage.table, column))

    equality = by_selectivity(usage.equality)
    # An inner side of a nested loop is probed by the join key: an equality too.
    probes = by_selectivity([*usage.equality, *usage.joins])
    tails = [[column] for column in usage.ranges[:2]]
    if usage.sort:
        tails.append([column for column, _ in usage.sort])
    if usage.group:
        tails.append(list(usage.group))

    shapes: set[tuple[str, ...]] = set()
    for leading in {tuple(equality), tuple(probes)}:
        for tail in tails or [[]]:
            shapes.add(_unique([*leading, *tail]))
        if leading:
            shapes.add(leading)
            shapes.add(leading[:1])
    for column in usage.joins:
        shapes.add((column,))
    if not equality:
        for column in usage.ranges:
            shapes.add((column,))

    found = set()
    for shape in shapes:
        columns = tuple(shape[:max_columns])
        if not columns or not set(columns) <= set(info.columns) or info.covered(columns):
            continue
        found.add(IndexSpec(usage.table, columns))
    return found
