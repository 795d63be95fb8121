"""Candidate indexes for one table's use in one statement.

The classic column order for a b-tree: equality columns first (most selective
first: `col = $1` by pg_stats' distinct count, `col IS NULL` by the share of
NULLs, `col = 'x'` by that value's share), then one range column, or the sort
/ group columns, so that rows come out in order and a LIMIT stops early.
Around that shape:

- narrower variants (the equality columns alone, the most selective one, each
  join key): one index may serve several statements through its prefix;
- covering variants, the statement's other columns of this table carried in
  `INCLUDE` or appended to the key (which keeps deduplication), for an
  index-only scan (aggregates over a range, lookups that read two or three
  columns), when they are few and narrow and the statement has no LIMIT (a
  few heap fetches are not worth the bytes);
- partial variants for a constant predicate that keeps few rows (`WHERE
  closed_at IS NULL`, `WHERE status = 'pending'`): the rest of the key on just
  those rows, often a fraction of the full index's size.

The workload-wide choice (`selection`) decides which pay; candidates an
existing index already covers are dropped here.
"""

from __future__ import annotations

from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import TableUsage
from revue.query_optimizer.advisor.sizes import deduplicates
from revue.query_optimizer.advisor.whatif import IndexSpec

# A constant predicate keeping at most this share of rows is worth a partial index.
PARTIAL_MAX_SHARE = 0.3
# Covering: at most this many carried columns, this many bytes of them per entry.
INCLUDE_MAX_COLUMNS = 4
INCLUDE_MAX_BYTES = 64


def _unique(columns: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(columns))


def match_share(usage: TableUsage, catalog: Catalog, column: str) -> float:
    """The share of the table's rows an equality on `column` keeps (smaller: more selective)."""
    info = catalog.tables[usage.table]
    stats = info.columns.get(column)
    if stats is None:
        return 1.0
    if column in usage.nulls:
        return stats.null_frac
    constant = next((value for c, _, value in usage.constants if c == column), None)
    if constant is not None:
        return stats.share_equal_to(constant)
    return 1.0 / stats.distinct if stats.distinct >= 1 else 1.0


def candidates_for(usage: TableUsage, catalog: Catalog, max_columns: int) -> set[IndexSpec]:
    info = catalog.tables.get(usage.table)
    if info is None:
        return set()

    def by_selectivity(columns: list[str]) -> list[str]:
        return sorted(columns, key=lambda column: match_share(usage, catalog, column))

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
    for tail in tails:  # the order alone: a LIMIT walks it and filters
        shapes.add(_unique(tail))

    found: set[IndexSpec] = set()
    for shape in shapes:
        columns = tuple(shape[:max_columns])
        found |= _with_variants(usage, catalog, columns, max_columns)
    found |= _partial(usage, catalog, tails, max_columns)
    return {spec for spec in found if _usable(spec, catalog)}


def _with_variants(
    usage: TableUsage, catalog: Catalog, columns: tuple[str, ...], max_columns: int
) -> set[IndexSpec]:
    """The key itself, and its covering variants for an index-only scan: the columns
    carried in INCLUDE, or appended to the key. INCLUDE turns off b-tree deduplication;
    in the key they keep it (a repeated key is stored once) and add an order."""
    if not columns:
        return set()
    found = {IndexSpec(usage.table, columns)}
    carried = _carried(usage, catalog, columns)
    if carried:
        found.add(IndexSpec(usage.table, columns, carried))
        widened = (*columns, *carried)
        if len(widened) <= max_columns and deduplicates(catalog.tables[usage.table], widened):
            found.add(IndexSpec(usage.table, widened))
    return found


def _carried(usage: TableUsage, catalog: Catalog, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The other columns the statement reads, when an index can carry them cheaply and the
    statement reads enough rows for an index-only scan to matter (no LIMIT)."""
    if usage.limited:
        return ()
    info = catalog.tables[usage.table]
    rest = sorted(usage.reads - set(columns))
    if not rest or len(rest) > INCLUDE_MAX_COLUMNS:
        return ()
    width = sum(info.columns[c].width if c in info.columns else 8 for c in rest)
    return tuple(rest) if width <= INCLUDE_MAX_BYTES else ()


def _partial(
    usage: TableUsage, catalog: Catalog, tails: list[list[str]], max_columns: int
) -> set[IndexSpec]:
    """Indexes on only the rows a selective constant predicate keeps."""
    found: set[IndexSpec] = set()
    for column, predicate, _ in usage.constants:
        if match_share(usage, catalog, column) > PARTIAL_MAX_SHARE:
            continue
        others = [c for c in usage.equality if c != column]
        others.sort(key=lambda other: match_share(usage, catalog, other))
        keys = {_unique([*others, *tail])[:max_columns] for tail in tails or [[]]}
        keys |= {tuple(others[:1])} if others else set()
        keys |= {tuple(tail[:max_columns]) for tail in tails}
        if not any(keys):
            keys = {(column,)}  # nothing else to order by: the predicate's own column
        for key in keys:
            if not key:
                continue
            found.add(IndexSpec(usage.table, key, where=predicate))
            carried = _carried(usage, catalog, key)
            if carried:
                found.add(IndexSpec(usage.table, key, carried, predicate))
    return found


def _usable(spec: IndexSpec, catalog: Catalog) -> bool:
    info = catalog.tables[spec.table]
    known = set(info.columns)
    if not set(spec.columns) <= known or not set(spec.include) <= known:
        return False
    return not info.covered(spec.columns, spec.include, spec.where or None)
