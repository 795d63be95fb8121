"""EXPLAIN for text that came over the bus: one plannable statement, never executed.

Parameterized text (`$1`) gets a generic plan, the plan a prepared statement
has before it knows its values: `PREPARE` + `plan_cache_mode =
force_generic_plan` + `EXPLAIN EXECUTE` with NULLs, on every version.
PostgreSQL 16's `EXPLAIN (GENERIC_PLAN)` is not used: asyncpg speaks the
extended protocol, which must bind a value to each `$n`, and with values
bound PostgreSQL 18 plans for those values (measured: a NULL key gave a
constant-false `Result` plan). Only single
SELECT / INSERT / UPDATE / DELETE statements are planned, and never with
ANALYZE: planning runs nothing. The slow-query log adds a read-only
transaction and a statement timeout around it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from revue.common.db.sql_shape import SqlShapeError, shape_of
from revue.query_optimizer.advisor.predicates import parameter_count

PLANNABLE = frozenset({"select", "insert", "update", "delete"})


class UnplannableError(ValueError):
    """A statement the optimizer will not (or cannot) plan."""


def checked(statement: str) -> int:
    """The statement's parameter count, once it is known to be one plannable statement."""
    try:
        shape = shape_of(statement)
    except SqlShapeError as error:
        raise UnplannableError(f"does not parse: {error}") from error
    if shape.statements != 1 or shape.kind not in PLANNABLE:
        raise UnplannableError("only single SELECT, INSERT, UPDATE or DELETE statements")
    return parameter_count(statement)


def literal(value: str | None) -> str:
    """A value as an SQL literal of unknown type (PostgreSQL casts it to the parameter's)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


async def explain(
    connection: asyncpg.Connection,
    statement: str,
    *,
    in_transaction: bool = False,
    values: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """`EXPLAIN (FORMAT JSON)` of `statement`, generic where it has `$n`.

    On a dedicated connection the generic-plan mode is set for the session;
    `in_transaction` keeps it to the caller's transaction (a pooled connection).
    With `values` (one text per `$n`) the plan is the custom plan for them.
    """
    parameters = checked(statement)
    try:
        if parameters == 0:
            raw = await connection.fetchval("EXPLAIN (FORMAT JSON) " + statement)
        else:
            scope = "LOCAL " if in_transaction else ""
            mode = "force_generic_plan" if values is None else "force_custom_plan"
            arguments = ", ".join(literal(v) for v in (values or [None] * parameters))
            # PREPARE goes over the simple-query protocol, where the server's own
            # reading of backslashes decides where a string ends: with
            # standard_conforming_strings off, text that pglast parsed as one
            # statement could be two to the server. On, both read it alike.
            await connection.execute(f"SET {scope}standard_conforming_strings = on")
            await connection.execute(f"SET {scope}plan_cache_mode = {mode}")
            await connection.execute("PREPARE revue_explain AS " + statement)
            try:
                raw = await connection.fetchval(
                    f"EXPLAIN (FORMAT JSON) EXECUTE revue_explain({arguments})"
                )
            finally:
                await deallocate(connection)
    except asyncpg.PostgresError as error:
        raise UnplannableError(f"{type(error).__name__}: {error}") from error
    return decoded(raw)


def decoded(raw: Any) -> Any:
    """An EXPLAIN (FORMAT JSON) answer as Python: SQLAlchemy's pooled connections decode
    json already, a bare asyncpg one does not."""
    return orjson.loads(raw) if isinstance(raw, str | bytes) else raw


async def plan_cost(
    connection: asyncpg.Connection, statement: str, values: Sequence[str | None] | None = None
) -> float:
    plan = await explain(connection, statement, values=values)
    return float(plan[0]["Plan"]["Total Cost"])


async def deallocate(connection: asyncpg.Connection) -> None:
    """Prepared statements outlive transactions: never leave ours on a connection."""
    with contextlib.suppress(asyncpg.PostgresError):  # not prepared, or an aborted transaction
        await connection.execute("DEALLOCATE revue_explain")


async def explain_read_only(
    connection: asyncpg.Connection, statement: str, timeout_ms: int
) -> list[dict[str, Any]]:
    """The plan, from a read-only transaction that gives up after `timeout_ms`."""
    try:
        async with connection.transaction(readonly=True):
            await connection.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            return await explain(connection, statement, in_transaction=True)
    except asyncpg.PostgresError as error:
        raise UnplannableError(f"{type(error).__name__}: {error}") from error
    finally:
        await deallocate(connection)
