"""Index advice on two schemas: Revue vs Supabase's index_advisor and the Dexter-style rule.

For each schema — the seeds' five tables (`revue.query_optimizer.demo_schema`)
and the Stack Exchange data dump's seven (`stackexchange_schema`, which the
advisor was not designed for) — seeded with skewed data, in the same run:

- primary keys only;
- the Dexter-style rule (`dexter_rule.py`);
- Supabase index_advisor 0.2.0, loaded at bench time from
  `../shared/peers/supabase_index_advisor-0.2.0.sql` and asked about every
  statement of the workload, the union of its answers built;
- Revue (`advise_workload`, the CLI's engine) with a budget of Supabase's
  built bytes, costed on hypopg, then verified by execution (what does not
  pay its way is dropped, and what is kept fits the budget as built);
- the floor: the same calls planned and never executed, keys only.

Each set is built for real and its size read from the catalog; the workload
(every shape, weighted by its calls, random arguments from a fixed seed,
writes rolled back) is timed from the client (wall) and by the server
(EXPLAIN ANALYZE: planning + execution). Targets on each schema: Revue <=
0.5x Supabase's workload time with no more bytes, and <= the Dexter-style
rule's.

    .venv/bin/python bench/bench_query_advisor.py [--schemas seeds,stackexchange]
        [--sessions 400000] [--posts 1000000] [--call-scale 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import pglast
import stackexchange_schema
from dexter_rule import dexter_indexes
from infra import ROOT, bench_environment

from revue.common.db.engine import asyncpg_dsn
from revue.query_optimizer import demo_schema
from revue.query_optimizer.advice import advise_workload
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.selection import Budget, WorkloadQuery
from revue.query_optimizer.advisor.verification import VerifyOptions
from revue.query_optimizer.advisor.whatif import HypotheticalIndexes, hypopg_available
from revue.query_optimizer.demo_schema import Shape

SUPABASE_SQL = ROOT.parent / "shared" / "peers" / "supabase_index_advisor-0.2.0.sql"


@dataclass(frozen=True)
class Schema:
    name: str
    tables: set[str]
    workload: list[Shape]
    seed: Callable[[asyncpg.Connection, int], Awaitable[None]]
    scale: int
    # The best set found by hand within Supabase's bytes, knowing the arguments the
    # workload is called with (which no advisor sees in `$1`): how low a set can go.
    by_hand: tuple[str, ...] = ()


async def run_workload(
    connection: asyncpg.Connection,
    schema: Schema,
    call_scale: float,
    mode: str = "wall",
) -> dict[str, float]:
    """Seconds per shape to run it `calls x call_scale` times (writes rolled back).

    `wall`: as the client sees it. `server`: PostgreSQL's own planning +
    execution time (EXPLAIN ANALYZE), without the round trip. `plan`: planned,
    never executed (EXPLAIN), from the client: the floor no index goes below;
    `planning`: the same, the server's planning time alone (the server-side floor).
    """
    rng = random.Random(2026)
    prefix = {
        "wall": "",
        "server": "EXPLAIN (ANALYZE, FORMAT JSON) ",
        "plan": "EXPLAIN (SUMMARY, FORMAT JSON) ",
        "planning": "EXPLAIN (SUMMARY, FORMAT JSON) ",
    }[mode]
    prepared = {
        shape.name: await connection.prepare(prefix + shape.sql) for shape in schema.workload
    }
    seconds = {}
    for shape in schema.workload:
        spent = 0.0
        for _ in range(max(1, round(shape.calls * call_scale))):
            arguments = shape.arguments(rng, schema.scale)
            transaction = connection.transaction()
            await transaction.start()  # every configuration sees the same tables
            started = time.perf_counter()
            answer = await prepared[shape.name].fetchval(*arguments)
            wall = time.perf_counter() - started
            await transaction.rollback()
            if mode == "server":
                plan = json.loads(answer)[0]
                spent += (plan["Planning Time"] + plan["Execution Time"]) / 1000
            elif mode == "planning":
                spent += json.loads(answer)[0]["Planning Time"] / 1000
            else:
                spent += wall
        seconds[shape.name] = spent
    return seconds


async def build(connection: asyncpg.Connection, statements: Sequence[str]) -> tuple[int, list[str]]:
    """Build each `CREATE INDEX ON ...` for real; their total bytes and names."""
    names = []
    for number, statement in enumerate(statements):
        name = f"bench_ix_{number}"
        named = statement.replace("CREATE INDEX ON", f"CREATE INDEX {name} ON", 1)
        await connection.execute(named.replace("CONCURRENTLY ", ""))
        names.append(name)
    await connection.execute("ANALYZE")
    size = await connection.fetchval(
        "SELECT coalesce(sum(pg_relation_size(to_regclass(n))), 0) FROM unnest($1::text[]) n",
        names,
    )
    return int(size), names


async def drop(connection: asyncpg.Connection, names: Sequence[str]) -> None:
    for name in names:
        await connection.execute(f'DROP INDEX "{name}"')


# --- the peers ------------------------------------------------------------------------


async def supabase_indexes(dsn: str, workload: list[WorkloadQuery]) -> list[str]:
    """Supabase index_advisor's answer for every statement, united (as its users apply it).

    On its own connection without a statement cache: index_advisor runs `DEALLOCATE ALL`.
    """
    connection = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        await connection.execute(SUPABASE_SQL.read_text())
        chosen: dict[str, None] = {}
        for query in workload:
            row = await connection.fetchrow(
                "SELECT index_statements, errors FROM index_advisor($1)", query.statement
            )
            if row["errors"]:
                print(f"    index_advisor error on {query.statement[:60]}: {row['errors']}")
            for statement in row["index_statements"]:
                chosen[statement.replace("USING btree ", "")] = None
        return list(chosen)
    finally:
        await connection.close()


@dataclass
class Measured:
    label: str
    indexes: list[str]
    size: int
    wall: float
    server: float
    per_shape: dict[str, float]
    server_per_shape: dict[str, float]


async def measure(
    connection: asyncpg.Connection, schema: Schema, label: str, indexes: list[str], scale: float
) -> Measured:
    size, names = await build(connection, indexes)
    await run_workload(connection, schema, min(scale, 0.05))  # warm the cache
    per_shape = await run_workload(connection, schema, scale)
    server = await run_workload(connection, schema, scale, "server")
    await drop(connection, names)
    return Measured(
        label, indexes, size, sum(per_shape.values()), sum(server.values()), per_shape, server
    )


async def bench_schema(schema: Schema, call_scale: float) -> dict[str, Measured]:
    async with bench_environment() as env:
        dsn = asyncpg_dsn(env["DATABASE_URL"])
        connection = await asyncpg.connect(dsn)
        try:
            return await _bench(connection, dsn, schema, call_scale)
        finally:
            await connection.close()


async def _bench(
    connection: asyncpg.Connection, dsn: str, schema: Schema, call_scale: float
) -> dict[str, Measured]:
    started = time.perf_counter()
    await schema.seed(connection, schema.scale)
    counts = {t: await connection.fetchval(f"SELECT count(*) FROM {t}") for t in schema.tables}
    largest = sorted(counts.items(), key=lambda item: -item[1])[:3]
    print(
        f"\n== {schema.name}: {sum(counts.values()):,} rows "
        f"(largest: {', '.join(f'{t} {n:,}' for t, n in largest)}), "
        f"{len(schema.workload)} shapes, seeded in {time.perf_counter() - started:.0f} s"
    )
    assert await hypopg_available(connection), "the peers and the estimates need hypopg"
    workload = [
        WorkloadQuery(pglast.fingerprint(shape.sql), shape.sql, shape.calls)
        for shape in schema.workload
    ]
    catalog = await Catalog.load(connection, schema.tables)
    whatif = HypotheticalIndexes(connection, catalog)

    started = time.perf_counter()
    dexter = [index.ddl() for index in await dexter_indexes(whatif, catalog, workload)]
    await whatif.clear()
    dexter_s = time.perf_counter() - started
    started = time.perf_counter()
    supabase = await supabase_indexes(dsn, workload)
    supabase_s = time.perf_counter() - started
    supabase_bytes, names = await build(connection, supabase)
    await drop(connection, names)

    started = time.perf_counter()
    run = await advise_workload(
        connection,
        workload,
        Budget(max_indexes=100, max_bytes=supabase_bytes),  # bytes only, as the issue asks
        rollback_max_table_bytes=0,
        verify=VerifyOptions(samples=5),
    )
    revue_s = time.perf_counter() - started
    revue = [r.index.ddl() for r in run.advice.recommendations]
    dropped = [str(r.index) for r, _ in run.verified.dropped] if run.verified else []
    print(
        f"advice took: dexter-style {dexter_s:.1f} s, supabase {supabase_s:.1f} s, "
        f"revue {revue_s:.1f} s (with verification; dropped after it: {dropped or 'none'})"
    )

    await run_workload(connection, schema, min(call_scale, 0.05), "plan")
    floor = sum((await run_workload(connection, schema, call_scale, "plan")).values())
    floor_server = sum((await run_workload(connection, schema, call_scale, "planning")).values())
    results = {}
    for label, indexes in (
        ("primary keys only", []),
        ("dexter-style", dexter),
        ("supabase", supabase),
        ("revue", revue),
        *((("by hand", list(schema.by_hand)),) if schema.by_hand else ()),
    ):
        results[label] = await measure(connection, schema, label, indexes, call_scale)
    report(results, floor, floor_server)
    return results


def report(results: dict[str, Measured], floor: float, floor_server: float) -> None:
    print(f"{'configuration':>20} {'indexes':>7} {'MiB':>8} {'wall ms':>10} {'server ms':>10}")
    for m in results.values():
        print(
            f"{m.label:>20} {len(m.indexes):7d} {m.size / 2**20:8.1f} {m.wall * 1000:10.1f}"
            f" {m.server * 1000:10.1f}"
        )
    print(f"{'floor (planned only)':>20} {'':>16} {floor * 1000:10.1f} {floor_server * 1000:10.1f}")
    for m in results.values():
        if m.indexes:
            print(f"  {m.label}:")
            for statement in m.indexes:
                print(f"    {statement}")
    revue, supabase, dexter = results["revue"], results["supabase"], results["dexter-style"]
    columns = [m for m in (dexter, supabase, revue, results.get("by hand")) if m is not None]
    print(f"  per shape, server ms (wall ms): {' | '.join(m.label for m in columns)}")
    for name in revue.per_shape:
        cells = " | ".join(
            f"{m.server_per_shape[name] * 1000:7.1f} ({m.per_shape[name] * 1000:7.1f})"
            for m in columns
        )
        print(f"    {cells}  {name}")
    print(
        f"  revue / supabase: wall {revue.wall / supabase.wall:.3f}, server "
        f"{revue.server / supabase.server:.3f} (target <= 0.5); bytes "
        f"{revue.size / max(supabase.size, 1):.3f} (target <= 1)"
    )
    print(
        f"  revue / dexter-style: wall {revue.wall / dexter.wall:.3f}, server "
        f"{revue.server / dexter.server:.3f} (target <= 1)"
    )
    if hand := results.get("by hand"):
        print(
            f"  by hand / supabase: wall {hand.wall / supabase.wall:.3f}, server"
            f" {hand.server / supabase.server:.3f}; bytes {hand.size / max(supabase.size, 1):.3f}"
            " (the best set found by hand, knowing the arguments no advice from `$n` sees)"
        )
    print(
        f"  floor / supabase: wall {floor / supabase.wall:.3f}, server"
        f" {floor_server / supabase.server:.3f} (no index set goes below the floor)"
    )


# Tried by hand on the seeds (bench/RESULTS.md): the cheap decisive indexes, the
# session's and the user's keys, and a partial index for the one status "queued work"
# is always called with: 33 MiB of Supabase's 39. Two-column range indexes for the
# rule's and the project's periods do not fit beside them.
SEEDS_BY_HAND = (
    "CREATE INDEX ON code_review_results (session_id)",
    "CREATE INDEX ON code_review_results (rule_id)",
    "CREATE INDEX ON audit_log (entity_id)",
    "CREATE INDEX ON audit_log (action, entity_type)",
    "CREATE INDEX ON audit_log (user_id, action)",
    "CREATE INDEX ON audit_log (created_at)",
    "CREATE INDEX ON projects (owner_id)",
    "CREATE INDEX ON users (email) INCLUDE (id, plan)",
    "CREATE INDEX ON analysis_sessions (project_id, status)",
    "CREATE INDEX ON analysis_sessions (duration_ms)",
    "CREATE INDEX ON analysis_sessions (user_id)",
    "CREATE INDEX ON analysis_sessions (created_at) WHERE status = 'queued'",
)

SCHEMAS: dict[str, Callable[[argparse.Namespace], Schema]] = {
    "seeds": lambda a: Schema(
        "the seeds' schema",
        {"users", "projects", "analysis_sessions", "code_review_results", "audit_log"},
        demo_schema.WORKLOAD,
        demo_schema.create_and_seed,
        a.sessions,
        SEEDS_BY_HAND,
    ),
    "stackexchange": lambda a: Schema(
        "the Stack Exchange data dump's schema",
        stackexchange_schema.TABLES,
        stackexchange_schema.WORKLOAD,
        stackexchange_schema.create_and_seed,
        a.posts,
    ),
}


async def main(arguments: argparse.Namespace) -> None:
    if not SUPABASE_SQL.exists():
        raise SystemExit(f"the peer is missing: {SUPABASE_SQL}")
    for name in arguments.schemas.split(","):
        await bench_schema(SCHEMAS[name](arguments), arguments.call_scale)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", default="seeds,stackexchange")
    parser.add_argument("--sessions", type=int, default=400_000, help="seeds' schema scale")
    parser.add_argument("--posts", type=int, default=1_000_000, help="Stack Exchange scale")
    parser.add_argument("--call-scale", type=float, default=0.2)
    asyncio.run(main(parser.parse_args()))
