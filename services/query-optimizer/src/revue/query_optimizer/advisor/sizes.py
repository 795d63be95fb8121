"""How many bytes a b-tree index takes once built, from the catalog's statistics.

A byte budget is only as good as the sizes it is spent on. hypopg sizes an
index as one tuple per row, but PostgreSQL 13 and later deduplicate b-tree
entries as they build them: a key that many rows share is stored once, with
a 6-byte heap pointer per row in its posting list. hypopg therefore
overstates an index on a repeated key (a foreign key, a status, a type) by
up to three times, and a budget spent on its figures buys half the indexes
it could. The estimate here follows the on-disk format:

- a leaf entry is an 8-byte tuple header, the key's columns at their
  alignment, padded to 8 bytes, plus a 4-byte line pointer;
- with deduplication (no INCLUDE columns and every key column of a type
  whose equality is bytewise: integers, timestamps, text, uuid...), one
  entry per distinct key (and per posting list of at most ~400 rows) plus
  6 bytes for every further row;
- leaves filled to 90 % (a fresh build's fillfactor), internal pages and
  the metapage on top;
- a partial index holds the rows its predicate keeps, as the planner
  estimates them;
- the distinct keys counted (`counted_keys`) where the table allows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from revue.query_optimizer.advisor.catalog import Catalog, ColumnStats, TableInfo
from revue.query_optimizer.advisor.predicates import quote
from revue.query_optimizer.explain import decoded

if TYPE_CHECKING:
    from revue.query_optimizer.advisor.whatif import IndexSpec

PAGE_BYTES = 8192
LEAF_BYTES = (PAGE_BYTES - 24 - 16) * 0.90  # page header, b-tree special space, fillfactor
INTERNAL_BYTES = (PAGE_BYTES - 24 - 16) * 0.70
TUPLE_HEADER = 8
LINE_POINTER = 4
HEAP_POINTER = 6
# A posting list tuple stays under a third of a page (BTMaxItemSize).
POSTING_MAX_BYTES = 2704
# Types whose equal values are bytewise equal (their opclass has an equalimage
# function): the ones b-tree deduplication works for.
DEDUPLICATED_TYPES = frozenset(
    {
        "int2", "int4", "int8", "oid", "bool", "char", "date", "time", "timetz",
        "timestamp", "timestamptz", "text", "varchar", "bpchar", "name", "uuid",
        "bytea", "interval", "money", "inet", "cidr", "macaddr",
    }
)  # fmt: skip
ALIGNMENT = {"c": 1, "s": 2, "i": 4, "d": 8}
# pg_stats' distinct counts come from a sample and undercount repeated keys on large
# skewed tables (a fifth to a third, measured): where a table is not too large, the
# distinct keys of a deduplicated candidate are counted for real, within this time.
COUNT_MAX_ROWS = 20_000_000
COUNT_TIMEOUT_MS = 5_000


def _aligned(offset: float, alignment: int) -> float:
    return math.ceil(offset / alignment) * alignment


def _data_bytes(columns: Sequence[ColumnStats]) -> float:
    """The columns' bytes in one index tuple, each at its type's alignment."""
    offset = 0.0
    for stats in columns:
        if stats.length > 0:
            offset = _aligned(offset, ALIGNMENT.get(stats.align, 8)) + stats.length
        else:  # variable length: short values carry a 1-byte header and are not aligned
            offset += stats.width * (1 - stats.null_frac)
    return offset


def _posting_group_bytes(key_tuple: float, rows_per_key: float) -> float:
    """Leaf bytes for one key and its rows: a plain tuple for one row, else posting list
    tuples (key, then 6 bytes per row, padded to 8; at most ~a third of a page each)."""
    if rows_per_key < 2:
        return key_tuple + LINE_POINTER
    per_tuple = max(math.floor((POSTING_MAX_BYTES - key_tuple) / HEAP_POINTER), 2)
    tuples = math.ceil(rows_per_key / per_tuple)
    in_each = rows_per_key / tuples
    return tuples * (_aligned(key_tuple + HEAP_POINTER * in_each, 8) + LINE_POINTER)


def estimated_index_bytes(
    info: TableInfo,
    columns: Sequence[str],
    include: Sequence[str] = (),
    rows: float | None = None,
    distinct_keys: float | None = None,
) -> int:
    """Bytes of a b-tree on `columns` (carrying `include`) over `rows` rows (default:
    every row of the table; fewer for a partial index), with `distinct_keys` distinct
    keys (default: from pg_stats, which undercounts on large skewed tables)."""
    kept = max(info.rows if rows is None else rows, 0.0)
    unknown = ColumnStats(distinct=0.0, width=8)
    keys = [info.columns.get(column, unknown) for column in columns]
    carried = [info.columns.get(column, unknown) for column in include]
    key_tuple = _aligned(TUPLE_HEADER + _data_bytes([*keys, *carried]), 8)
    entry = key_tuple + LINE_POINTER
    if deduplicates(info, columns, include) and kept >= 1:
        if distinct_keys is None:
            distinct_keys = math.prod(max(stats.distinct, 1.0) for stats in keys)
        groups = max(min(kept, distinct_keys), 1.0)
        # Groups of the two whole sizes around the mean, in the mix that gives the mean.
        low = math.floor(kept / groups)
        weight = kept / groups - low
        leaf = groups * (
            (1 - weight) * _posting_group_bytes(key_tuple, low)
            + weight * _posting_group_bytes(key_tuple, low + 1)
        )
    else:
        leaf = kept * entry
    leaves = max(math.ceil(leaf / LEAF_BYTES), 1)
    # One downlink per leaf page (a key prefix at most), then the levels above.
    internal, level = 0, leaves
    while level > 1:
        level = math.ceil(level * entry / INTERNAL_BYTES)
        internal += level
    return (leaves + internal + 1) * PAGE_BYTES


def deduplicates(info: TableInfo, columns: Sequence[str], include: Sequence[str] = ()) -> bool:
    """PostgreSQL deduplicates this b-tree: no INCLUDE, every key of a bytewise-equal type."""
    types = [info.columns[c].type if c in info.columns else "" for c in columns]
    return not include and all(t in DEDUPLICATED_TYPES for t in types)


async def rows_kept(connection: asyncpg.Connection, table: str, predicate: str) -> float:
    """The rows a partial index's predicate keeps, as the planner estimates them."""
    # Planned, never run; the predicate is one `predicates` deparsed (`col IS NULL`,
    # `col = <constant>`), the table name quoted.
    name = ".".join(quote(part) for part in table.split("."))
    explain = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {name} WHERE {predicate}"  # noqa: S608
    plan = decoded(await connection.fetchval(explain))
    return float(plan[0]["Plan"]["Plan Rows"])


async def counted_keys(
    connection: asyncpg.Connection, info: TableInfo, columns: Sequence[str], predicate: str
) -> float | None:
    """The exact number of distinct keys, where counting is affordable (tables up to
    COUNT_MAX_ROWS, under a statement timeout); None: use pg_stats."""
    if info.rows > COUNT_MAX_ROWS:
        return None
    relation = ".".join(quote(part) for part in info.name.split("."))
    keys = ", ".join(quote(column) for column in columns)
    where = f"WHERE {predicate}" if predicate else ""
    # Catalog names, quoted; the predicate is one `predicates` deparsed.
    count = f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {relation} {where}) AS k"  # noqa: S608
    try:
        async with connection.transaction(readonly=True):
            await connection.execute(f"SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}")
            return float(await connection.fetchval(count))
    except (asyncpg.QueryCanceledError, asyncpg.InsufficientPrivilegeError):
        return None


async def estimated_size(connection: asyncpg.Connection, catalog: Catalog, index: IndexSpec) -> int:
    info = catalog.tables[index.table]
    rows = await rows_kept(connection, index.table, index.where) if index.where else None
    distinct = None
    if deduplicates(info, index.columns, index.include):
        distinct = await counted_keys(connection, info, index.columns, index.where)
    return estimated_index_bytes(info, index.columns, index.include, rows, distinct)
