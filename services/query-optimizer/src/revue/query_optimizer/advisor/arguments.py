"""Arguments for a parameterized statement, drawn from the data it reads.

Verification runs each `$n` statement with values the tables really hold,
so that timings follow the data's distribution, hot keys included:

- a parameter compared for equality takes the column's value from a row
  chosen at random (a popular key comes up as often as it has rows), never a
  NULL (`col = NULL` matches nothing and its plan reads nothing);
- a range's two bounds on one column (`col >= $1 AND col < $2`, BETWEEN)
  take two sampled values a step apart: a window of about 1 % of the rows,
  the narrow slice ranges in applications ask for ("this week");
- a bound alone keeps about 1 % too (`col >= $1`: near the top).

Rows are sampled with TABLESAMPLE on large tables (a full sort by random()
would read them all), falling back to the whole table where the sample is
short of values. A parameter tied to no column (`LIMIT $3`) cannot be drawn:
the statement is reported and not run.
"""

from __future__ import annotations

import random
from typing import Any

import asyncpg

from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.predicates import parameter_count, quote, table_usage

SAMPLE_ROWS = 200  # values per table to draw from
WINDOW_SHARE = 0.01  # the share of rows a drawn range keeps
SEED = 20_261_207  # the same draws on every run


async def _sample(
    connection: asyncpg.Connection, table: str, columns: list[str], rows: float
) -> list[asyncpg.Record]:
    relation = ".".join(quote(part) for part in table.split("."))
    selected = ", ".join(quote(column) for column in columns)
    present = " AND ".join(f"{quote(column)} IS NOT NULL" for column in columns)
    # Identifiers cannot be bound: these are catalog names, quoted.
    query = (
        f"SELECT {selected} FROM {relation} {{sample}} WHERE {present} ORDER BY random() LIMIT $1"  # noqa: S608
    )
    percent = 100.0 * SAMPLE_ROWS * 20 / max(rows, 1.0)
    found: list[asyncpg.Record] = []
    if percent < 100:
        await connection.execute("SELECT setseed(0.5)")
        found = await connection.fetch(
            query.format(sample=f"TABLESAMPLE BERNOULLI ({percent:.6f}) REPEATABLE (7)"),
            SAMPLE_ROWS,
        )
    if len(found) < SAMPLE_ROWS:
        await connection.execute("SELECT setseed(0.5)")
        found = await connection.fetch(query.format(sample=""), SAMPLE_ROWS)
    return found


async def draw_arguments(
    connection: asyncpg.Connection, sql: str, catalog: Catalog, samples: int
) -> list[tuple[Any, ...]] | str:
    """`samples` argument tuples for `sql`, or why there can be none."""
    count = parameter_count(sql)
    if count == 0:
        return [()] * samples
    owners: dict[int, tuple[str, str]] = {}
    bounds: dict[int, str] = {}
    for usage in table_usage(sql, catalog.columns_of).values():
        for number, column in usage.parameters.items():
            owners[number] = (usage.table, column)
        bounds |= usage.bounds
    missing = [f"${n}" for n in range(1, count + 1) if n not in owners]
    if missing:
        return f"no column for {', '.join(missing)}"
    drawn: dict[int, list[Any]] = {}
    for table in sorted({table for table, _ in owners.values()}):
        numbers = [n for n, (t, _) in owners.items() if t == table]
        columns = sorted({owners[n][1] for n in numbers})
        rows = await _sample(connection, table, columns, catalog.tables[table].rows)
        if not rows:
            return f"no row of {table} has a value in {', '.join(columns)}"
        for number in numbers:
            column = owners[number][1]
            sides = {bounds.get(n) for n, owner in owners.items() if owner == (table, column)}
            # One generator per column: a lower and an upper bound draw the same windows.
            rng = random.Random(f"{SEED}:{table}.{column}")  # noqa: S311 (sampling)
            values = [row[column] for row in rows]
            drawn[number] = _draws(values, bounds.get(number), sides >= {"lower", "upper"},
                                   samples, rng)  # fmt: skip
    return [tuple(drawn[n][i] for n in range(1, count + 1)) for i in range(samples)]


def _draws(
    values: list[Any], bound: str | None, window: bool, samples: int, rng: random.Random
) -> list[Any]:
    """Equality: the rows' own values, in the sample's random order. A bound of a
    `window`: the start or the end of a slice of the sorted values holding ~WINDOW_SHARE
    of them. A bound alone: near the far end, keeping about that share."""
    if bound is None:
        return [values[i % len(values)] for i in range(samples)]
    ordered = sorted(values)
    step = max(1, round(WINDOW_SHARE * len(ordered)))
    last = len(ordered) - 1
    if not window:
        ends = [rng.randrange(step + 1) for _ in range(samples)]
        return [ordered[last - end] if bound == "lower" else ordered[end] for end in ends]
    starts = [rng.randrange(max(last - step, 0) + 1) for _ in range(samples)]
    if bound == "lower":
        return [ordered[start] for start in starts]
    return [ordered[min(start + step, last)] for start in starts]
