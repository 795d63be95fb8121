"""What the advisor needs to know about tables: size, columns, statistics, indexes.

Read from pg_class, pg_attribute, pg_stats and pg_index in three queries for
all the workload's tables at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import asyncpg

from revue.common.db.sql_shape import table_name

TABLES = """
SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::float8 AS rows,
       pg_relation_size(c.oid) AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND (CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END)
      = ANY($1::text[])
"""
COLUMNS = """
SELECT a.attrelid, a.attname, s.n_distinct, s.avg_width, s.null_frac,
       s.most_common_vals::text::text[] AS common_values, s.most_common_freqs AS common_freqs,
       t.typname, t.typlen, t.typalign
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stats s
  ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
"""
# Plain-column b-tree indexes: their key columns, included columns and predicate.
# An expression index covers no column prefix the advisor would propose.
INDEXES = """
SELECT i.indrelid, i.indnkeyatts AS keys,
       array(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       pg_get_expr(i.indpred, i.indrelid) AS predicate
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = ANY($1::oid[]) AND am.amname = 'btree' AND i.indexprs IS NULL
"""
TUPLE_HEADER_BYTES = 24  # heap tuple header + item pointer
INDEX_ENTRY_HEADER_BYTES = 12  # index tuple header + item pointer


@dataclass(frozen=True, slots=True)
class ColumnStats:
    distinct: float  # estimated distinct values (pg_stats' negative fractions resolved)
    width: int
    null_frac: float = 0.0  # the share of rows where it is NULL
    common_values: tuple[tuple[str, float], ...] = ()  # most common values and their shares
    type: str = ""  # pg_type's name (int4, text, ...)
    length: int = -1  # bytes of a fixed-length type, -1: variable
    align: str = "d"  # pg_type's alignment: c, s, i or d

    @property
    def common(self) -> str | None:
        """The most common value, as text."""
        return self.common_values[0][0] if self.common_values else None

    @property
    def common_freq(self) -> float:
        return self.common_values[0][1] if self.common_values else 0.0

    def share_equal_to(self, value: str) -> float:
        """The share of rows holding `value` (pg_stats' estimate)."""
        for known, share in self.common_values:
            if known == value:
                return share
        listed = sum(share for _, share in self.common_values)
        rest = max(self.distinct - len(self.common_values), 1.0)
        return max(0.0, 1.0 - self.null_frac - listed) / rest


@dataclass(frozen=True, slots=True)
class ExistingIndex:
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    predicate: str | None = None


@dataclass
class TableInfo:
    name: str
    rows: float
    bytes: int
    columns: dict[str, ColumnStats] = field(default_factory=dict)
    indexes: list[ExistingIndex] = field(default_factory=list)

    @property
    def row_width(self) -> int:
        return TUPLE_HEADER_BYTES + sum(stats.width for stats in self.columns.values())

    def entry_width(self, columns: tuple[str, ...]) -> int:
        widths = (self.columns[c].width if c in self.columns else 8 for c in columns)
        return INDEX_ENTRY_HEADER_BYTES + sum(widths)

    def covered(
        self,
        columns: tuple[str, ...],
        include: tuple[str, ...] = (),
        predicate: str | None = None,
    ) -> bool:
        """An existing index starts with these columns, carries the included ones, and is
        no narrower (a full index, or one with this very predicate)."""
        for index in self.indexes:
            if index.predicate is not None and (
                predicate is None or _normal(index.predicate) != _normal(predicate)
            ):
                continue
            if index.columns[: len(columns)] != columns:
                continue
            if set(include) <= set(index.columns) | set(index.include):
                return True
        return False


def _normal(predicate: str) -> str:
    """A predicate's text without what pg_get_expr and hand-written SQL differ in."""
    return re.sub(r'[\s()"]', "", predicate.lower())


class Catalog:
    def __init__(self, tables: dict[str, TableInfo]) -> None:
        self.tables = tables

    def columns_of(self, table: str) -> set[str]:
        info = self.tables.get(table)
        return set(info.columns) if info else set()

    def distinct(self, table: str, column: str) -> float:
        info = self.tables.get(table)
        stats = info.columns.get(column) if info else None
        return stats.distinct if stats else 0.0

    @classmethod
    async def load(cls, connection: asyncpg.Connection, names: set[str]) -> Catalog:
        tables: dict[int, TableInfo] = {}
        for row in await connection.fetch(TABLES, sorted(names)):
            name = table_name(row["nspname"], row["relname"])
            tables[row["oid"]] = TableInfo(name, row["rows"], row["bytes"])
        oids = list(tables)
        for row in await connection.fetch(COLUMNS, oids):
            info = tables[row["attrelid"]]
            distinct = row["n_distinct"] or 0.0
            if distinct < 0:  # a fraction of the rows
                distinct = -distinct * info.rows
            common = tuple(zip(row["common_values"] or (), row["common_freqs"] or (), strict=False))
            info.columns[row["attname"]] = ColumnStats(
                distinct,
                row["avg_width"] or 8,
                row["null_frac"] or 0.0,
                common,
                row["typname"],
                row["typlen"],
                bytes(row["typalign"]).decode(),  # a "char": asyncpg gives bytes
            )
        for row in await connection.fetch(INDEXES, oids):
            columns = tuple(row["columns"])
            tables[row["indrelid"]].indexes.append(
                ExistingIndex(columns[: row["keys"]], columns[row["keys"] :], row["predicate"])
            )
        return cls({info.name: info for info in tables.values()})
