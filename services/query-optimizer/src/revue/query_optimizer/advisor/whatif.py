"""What would this statement cost with these indexes? Asked of PostgreSQL's own planner.

Two ways to ask:
- `HypotheticalIndexes` (hypopg): indexes that exist only in this session's
  planner, created and dropped in microseconds, no lock, nothing written;
- `RolledBackIndexes`, where hypopg is not installed: real indexes built
  inside a transaction that is always rolled back, only on tables under a
  size limit (the builds take a SHARE lock that blocks their writers until
  the advice run ends).

Costs are those of generic plans (see `revue.query_optimizer.explain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from asyncpg.transaction import Transaction

from revue.common.db.sql_shape import SqlShapeError, shape_of
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import quote
from revue.query_optimizer.advisor.sizes import estimated_size
from revue.query_optimizer.explain import deallocate, plan_cost


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


# Each rolled-back savepoint makes the next DROP slower (its time doubled over a
# couple of thousand savepoints, measured), so the transaction is started afresh
# now and then, and only the indexes asked for since are built again. 512 was the
# fastest of 256, 512, 768 and 2,048 on the seeds' workload.
RESTART_EVERY = 512


class RolledBackIndexes:
    """Real indexes, each built once in one transaction that is always rolled back.

    A configuration is planned inside a savepoint where every built index
    outside it is dropped; rolling back to the savepoint brings them back. A
    drop is a catalog change where a build reads the whole table, so each candidate's build
    is paid once per advice run rather than once per configuration asked
    about (thousands of times). Only tables under a size limit are built on:
    the first build takes a SHARE lock that blocks their writers until
    `clear()` ends the transaction.
    """

    method = "real indexes in a rolled-back transaction"

    def __init__(self, connection: asyncpg.Connection, buildable: dict[str, bool]) -> None:
        """`buildable` maps each table to whether it is small enough to build on."""
        self.connection = connection
        self.allowed = buildable
        self._transaction: Transaction | None = None
        self._built: dict[IndexSpec, str] = {}
        self._sizes: dict[IndexSpec, int] = {}
        self._plans = 0

    async def _build(self, indexes: Sequence[IndexSpec]) -> None:
        if self._transaction is None:
            self._transaction = self.connection.transaction()
            await self._transaction.start()
        for index in indexes:
            if index in self._built or not self.allowed.get(index.table, False):
                continue
            name = f"revue_whatif_{len(self._built)}"
            try:
                await self.connection.execute(index.ddl(name=name))
            except BaseException:
                await self.clear()  # the transaction is aborted: start afresh next time
                raise
            self._built[index] = name

    async def clear(self) -> None:
        if self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            self._built.clear()
            await transaction.rollback()
        await self.connection.execute("RESET plan_cache_mode")

    async def cost(
        self,
        statement: str,
        indexes: Sequence[IndexSpec],
        values: Sequence[str | None] | None = None,
    ) -> float:
        self._plans += 1
        if self._plans % RESTART_EVERY == 0:
            await self.clear()
        await self._build(indexes)
        tables = _tables_of(statement)
        hidden = [
            quote(name)
            for index, name in self._built.items()
            if index not in indexes and (tables is None or index.table in tables)
        ]
        await self.connection.execute("SAVEPOINT revue_whatif")
        try:
            if hidden:
                await self.connection.execute(f"DROP INDEX {', '.join(hidden)}")
            cost = await plan_cost(self.connection, statement, values)
        except BaseException:
            await self.connection.execute("ROLLBACK TO SAVEPOINT revue_whatif")
            await self._deallocate_left_over()  # only a failed plan leaves one
            raise
        await self.connection.execute("ROLLBACK TO SAVEPOINT revue_whatif")
        return cost

    async def _deallocate_left_over(self) -> None:
        """A failed plan leaves its statement prepared (the aborted savepoint refused the
        DEALLOCATE); a DEALLOCATE of nothing would abort the whole transaction."""
        if await self.connection.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'revue_explain'"
        ):
            await deallocate(self.connection)

    async def size(self, index: IndexSpec) -> int:
        if index not in self._sizes:
            await self._build([index])
            name = self._built.get(index)
            self._sizes[index] = (
                int(
                    await self.connection.fetchval("SELECT pg_relation_size(to_regclass($1))", name)
                )
                if name
                else 0
            )
        return self._sizes[index]


def _tables_of(statement: str) -> frozenset[str] | None:
    """The tables whose indexes the planner may consider (None: it does not parse)."""
    try:
        shape = shape_of(statement)
    except SqlShapeError:
        return None
    return shape.reads | shape.writes


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
