"""What would this statement cost with these indexes? Asked of PostgreSQL's own planner.

Two ways to ask:
- `HypotheticalIndexes` (hypopg): indexes that exist only in this session's
  planner, created and dropped in microseconds, no lock, nothing written;
- `RolledBackIndexes`, where hypopg is not installed: real indexes built
  inside a transaction that is always rolled back, only on tables under a
  size limit (the build takes a SHARE lock that blocks writers meanwhile).

Costs are those of generic plans (see `revue.query_optimizer.explain`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import quote
from revue.query_optimizer.advisor.sizes import estimated_size
from revue.query_optimizer.explain import plan_cost


@dataclass(frozen=True, order=True, slots=True)
class IndexSpec:
    """A b-tree index: its key columns, the columns it carries for index-only scans
    (`INCLUDE`), and the predicate of a partial index (`where`, empty: every row)."""

    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where: str = ""

    def ddl(self, *, concurrently: bool = False, name: str | None = None) -> str:
        table = ".".join(quote(part) for part in self.table.split("."))
        columns = ", ".join(quote(column) for column in self.columns)
        how = "CONCURRENTLY " if concurrently else ""
        named = f"{quote(name)} " if name else ""
        ddl = f"CREATE INDEX {how}{named}ON {table} ({columns})"
        if self.include:
            ddl += f" INCLUDE ({', '.join(quote(column) for column in self.include)})"
        if self.where:
            ddl += f" WHERE {self.where}"
        return ddl

    def covers(self, other: IndexSpec) -> bool:
        """Every statement `other` could serve, this one can too (and it makes `other` moot)."""
        return (
            self.table == other.table
            and self.where == other.where
            and self.columns[: len(other.columns)] == other.columns
            and set(other.include) <= set(self.columns) | set(self.include)
        )

    def __str__(self) -> str:
        text = f"{self.table}({', '.join(self.columns)})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        return f"{text} WHERE {self.where}" if self.where else text


class WhatIf(Protocol):
    method: str

    async def cost(
        self,
        statement: str,
        indexes: Sequence[IndexSpec],
        values: Sequence[str | None] | None = None,
    ) -> float: ...

    async def size(self, index: IndexSpec) -> int: ...

    async def clear(self) -> None:
        """Leave the session as it was found."""


class HypotheticalIndexes:
    """hypopg's hypothetical indexes for costs; sizes from `sizes` where the catalog is
    given (hypopg's own size ignores b-tree deduplication and overstates up to 4x)."""

    method = "hypopg"

    def __init__(self, connection: asyncpg.Connection, catalog: Catalog | None = None) -> None:
        self.connection = connection
        self.catalog = catalog
        self._sizes: dict[IndexSpec, int] = {}

    async def _create(self, indexes: Sequence[IndexSpec]) -> list[int]:
        await self.connection.execute("SELECT hypopg_reset()")
        return [
            await self.connection.fetchval(
                "SELECT indexrelid FROM hypopg_create_index($1)", index.ddl()
            )
            for index in indexes
        ]

    async def clear(self) -> None:
        await self.connection.execute("SELECT hypopg_reset()")
        await self.connection.execute("RESET plan_cache_mode")

    async def cost(
        self,
        statement: str,
        indexes: Sequence[IndexSpec],
        values: Sequence[str | None] | None = None,
    ) -> float:
        await self._create(indexes)
        return await plan_cost(self.connection, statement, values)

    async def size(self, index: IndexSpec) -> int:
        if index not in self._sizes:
            if self.catalog is not None and index.table in self.catalog.tables:
                self._sizes[index] = await estimated_size(self.connection, self.catalog, index)
            else:
                (oid,) = await self._create([index])
                self._sizes[index] = int(
                    await self.connection.fetchval("SELECT hypopg_relation_size($1)", oid)
                )
        return self._sizes[index]


class RolledBackIndexes:
    method = "real indexes in a rolled-back transaction"

    def __init__(self, connection: asyncpg.Connection, buildable: dict[str, bool]) -> None:
        """`buildable` maps each table to whether it is small enough to build on."""
        self.connection = connection
        self.allowed = buildable
        self._sizes: dict[IndexSpec, int] = {}

    @contextlib.asynccontextmanager
    async def _built(self, indexes: Sequence[IndexSpec]) -> AsyncIterator[list[str]]:
        transaction = self.connection.transaction()
        await transaction.start()
        try:
            names = []
            for number, index in enumerate(indexes):
                if not self.allowed.get(index.table, False):
                    continue
                name = f"revue_whatif_{number}"
                await self.connection.execute(index.ddl(name=name))
                names.append(name)
            yield names
        finally:
            await transaction.rollback()

    async def clear(self) -> None:
        await self.connection.execute("RESET plan_cache_mode")

    async def cost(
        self,
        statement: str,
        indexes: Sequence[IndexSpec],
        values: Sequence[str | None] | None = None,
    ) -> float:
        async with self._built(indexes):
            return await plan_cost(self.connection, statement, values)

    async def size(self, index: IndexSpec) -> int:
        if index not in self._sizes:
            async with self._built([index]) as names:
                self._sizes[index] = (
                    int(
                        await self.connection.fetchval(
                            "SELECT pg_relation_size(to_regclass($1))", names[0]
                        )
                    )
                    if names
                    else 0
                )
        return self._sizes[index]


async def hypopg_available(connection: asyncpg.Connection) -> bool:
    """True once the extension is (or could be made) present in this database."""
    if not await connection.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'"
    ):
        return False
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    except asyncpg.PostgresError:
        return False  # no privilege to create it: fall back
    return True
