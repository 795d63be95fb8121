"""Verify a recommendation: build the index for real, time its statements before and after.

The statements' `$n` values are drawn from the tables themselves
(`advisor.arguments`), so the timings follow the data's real distribution,
hot keys included. A statement with a parameter tied to no column (`LIMIT
$3`), or one that is not a plain SELECT (`safety`), is reported as skipped,
never run. Reads run
in read-only transactions under a statement timeout, as a role without
superuser. The index is built with CREATE INDEX CONCURRENTLY (writers keep
going) and dropped afterwards unless asked to keep it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import asyncpg

from revue.common.db.sql_shape import shape_of
from revue.query_optimizer.advisor.arguments import draw_arguments
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.whatif import IndexSpec, quote
from revue.query_optimizer.safety import READ_ONLY_ROLE, UnsafeStatementError, ensure_plain_select

STATEMENT_TIMEOUT_MS = 10_000


@dataclass
class StatementTiming:
    fingerprint: str
    before_ms: float | None = None
    after_ms: float | None = None
    skipped: str | None = None

    @property
    def speedup(self) -> float | None:
        if self.before_ms and self.after_ms:
            return round(self.before_ms / self.after_ms, 2)
        return None


@dataclass
class Verification:
    index: IndexSpec
    name: str
    size_bytes: int = 0
    kept: bool = False
    statements: list[StatementTiming] = field(default_factory=list)


async def _arguments(
    connection: asyncpg.Connection, sql: str, catalog: Catalog, samples: int
) -> list[tuple] | str:
    """Argument tuples for `sql` drawn from its tables (`arguments`), or why there are none."""
    try:
        ensure_plain_select(sql)
    except UnsafeStatementError as error:
        return f"not executed: {error}"
    return await draw_arguments(connection, sql, catalog, samples)


async def reader_role(connection: asyncpg.Connection) -> str | None:
    """The role reads must take: None when we are no superuser, else a read-only one."""
    if not await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        return None
    if not await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", READ_ONLY_ROLE):
        raise UnsafeStatementError(
            f"connected as a superuser and this server has no {READ_ONLY_ROLE} role:"
            " connect as a role without superuser to run statements"
        )
    return READ_ONLY_ROLE


async def _median_ms(
    connection: asyncpg.Connection, sql: str, arguments: list[tuple], role: str | None
) -> float:
    prepared = await connection.prepare(sql)
    timings = []
    for values in arguments:
        async with connection.transaction(readonly=True):
            await connection.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            if role is not None:
                await connection.execute(f"SET LOCAL ROLE {quote(role)}")
            started = time.perf_counter()
            await prepared.fetch(*values)
            timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 3)


async def verify(
    connection: asyncpg.Connection,
    index: IndexSpec,
    statements: list[tuple[str, str]],
    *,
    samples: int = 20,
    keep: bool = False,
) -> Verification:
    """Time `statements` ((fingerprint, sql) pairs), build `index`, time them again."""
    tables = {index.table}
    for _, sql in statements:
        tables |= shape_of(sql).reads
    catalog = await Catalog.load(connection, tables)
    name = "revue_" + "_".join([index.table.split(".")[-1], *index.columns])[:50]
    result = Verification(index, name)
    role = await reader_role(connection)
    runnable: list[tuple[StatementTiming, str, list[tuple]]] = []
    for fingerprint, sql in statements:
        timing = StatementTiming(fingerprint)
        arguments = await _arguments(connection, sql, catalog, samples)
        if isinstance(arguments, str) or not arguments:
            timing.skipped = arguments or "no rows to draw arguments from"
        else:
            await _median_ms(connection, sql, arguments[:2], role)  # warm the plan and the cache
            timing.before_ms = await _median_ms(connection, sql, arguments, role)
            runnable.append((timing, sql, arguments))
        result.statements.append(timing)
    ddl = index.ddl(concurrently=True).replace(
        "CREATE INDEX CONCURRENTLY ON", f"CREATE INDEX CONCURRENTLY {quote(name)} ON", 1
    )
    await connection.execute(ddl)
    try:
        result.size_bytes = int(
            await connection.fetchval("SELECT pg_relation_size(to_regclass($1))", quote(name))
        )
        for timing, sql, arguments in runnable:
            await _median_ms(connection, sql, arguments[:2], role)
            timing.after_ms = await _median_ms(connection, sql, arguments, role)
    finally:
        if not keep:
            await connection.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")
    result.kept = keep
    return result
