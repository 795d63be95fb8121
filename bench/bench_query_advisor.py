"""Index advice on a seeded 1,000,000-row schema: Revue vs the Dexter-style rule.

Seeds the seeds' five tables (`revue.query_optimizer.demo_schema`, skewed
data), then, in the same run, times the same workload (22 query shapes,
weighted by their calls, random arguments from a fixed seed) three times:
primary keys only, with the indexes the Dexter-style rule picks, and with
Revue's workload-wide recommendations under a budget of no more indexes and
no more bytes than Dexter's. Prints each configuration's index count and
size and the workload times, and the ratio Revue / Dexter (target <= 0.5).

    .venv/bin/python bench/bench_query_advisor.py [--sessions 400000] [--call-scale 0.2]
"""

import argparse
import asyncio
import json
import random
import time

import asyncpg
import pglast
from dexter_rule import dexter_indexes
from infra import bench_environment

from revue.common.db.engine import asyncpg_dsn
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.selection import Budget, IndexAdvisor, WorkloadQuery
from revue.query_optimizer.advisor.whatif import HypotheticalIndexes, hypopg_available
from revue.query_optimizer.demo_schema import WORKLOAD, create_and_seed

TABLES = {"users", "projects", "analysis_sessions", "code_review_results", "audit_log"}


async def run_workload(
    connection,
    sessions: int,
    call_scale: float,
    server_side: bool = False,
    plan_only: bool = False,
    server_planning: bool = False,
) -> dict[str, float]:
    """Seconds per shape to run it `calls x call_scale` times (writes rolled back).

    `server_side`: the server's own planning + execution time of each call
    (EXPLAIN ANALYZE), what pg_stat_statements would count, without the
    client's round trip. `plan_only`: plan each call and execute nothing
    (EXPLAIN), the floor no index can take a workload below.
    """
    rng = random.Random(2026)
    prefix = "EXPLAIN (ANALYZE, FORMAT JSON) " if server_side else ""
    if plan_only:
        prefix = "EXPLAIN (SUMMARY, FORMAT JSON) "
    statements = {shape.name: await connection.prepare(prefix + shape.sql) for shape in WORKLOAD}
    seconds = {}
    for shape in WORKLOAD:
        spent = 0.0
        for _ in range(max(1, round(shape.calls * call_scale))):
            arguments = shape.arguments(rng, sessions)
            transaction = connection.transaction()
            await transaction.start()  # writes are rolled back: every configuration sees one table
            started = time.perf_counter()
            answer = await statements[shape.name].fetchval(*arguments)
            wall = time.perf_counter() - started
            await transaction.rollback()
            if server_side:
                plan = json.loads(answer)[0]
                spent += (plan["Planning Time"] + plan["Execution Time"]) / 1000
            elif plan_only and server_planning:
                spent += json.loads(answer)[0]["Planning Time"] / 1000
            else:
                spent += wall
        seconds[shape.name] = spent
    return seconds


async def apply(connection, indexes) -> tuple[int, list[str]]:
    """Build `indexes` for real; their total bytes and names."""
    names = []
    for number, index in enumerate(indexes):
        name = f"bench_ix_{number}"
        await connection.execute(index.ddl().replace("CREATE INDEX ON", f"CREATE INDEX {name} ON"))
        names.append(name)
    await connection.execute("ANALYZE")
    size = await connection.fetchval(
        "SELECT coalesce(sum(pg_relation_size(to_regclass(n))), 0) FROM unnest($1::text[]) n",
        names,
    )
    return int(size), names


async def drop(connection, names) -> None:
    for name in names:
        await connection.execute(f'DROP INDEX "{name}"')


async def main(sessions: int, call_scale: float) -> None:
    async with bench_environment() as env:
        connection = await asyncpg.connect(asyncpg_dsn(env["DATABASE_URL"]))
        started = time.perf_counter()
        await create_and_seed(connection, sessions)
        rows = sum([await connection.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES])
        print(f"seeded {rows:,} rows in {time.perf_counter() - started:.1f} s")
        assert await hypopg_available(connection), "the benchmark compares hypopg advice"
        workload = [WorkloadQuery(pglast.fingerprint(s.sql), s.sql, s.calls) for s in WORKLOAD]
        catalog = await Catalog.load(connection, TABLES)
        whatif = HypotheticalIndexes(connection)

        started = time.perf_counter()
        dexter = await dexter_indexes(whatif, catalog, workload)
        dexter_seconds = time.perf_counter() - started
        budget_bytes = sum([await whatif.size(index) for index in dexter])
        started = time.perf_counter()
        advice = await IndexAdvisor(
            whatif, catalog, Budget(max_indexes=len(dexter), max_bytes=budget_bytes)
        ).advise(workload)
        revue_seconds = time.perf_counter() - started
        revue = [r.index for r in advice.recommendations]
        await whatif.clear()
        print(f"advice took: dexter-style {dexter_seconds:.1f} s, revue {revue_seconds:.1f} s")

        # Planned, never executed, with no index but the keys: what the workload
        # costs before any index could help (client round trip + parse + plan).
        await run_workload(connection, sessions, min(call_scale, 0.05), plan_only=True)
        floor = sum((await run_workload(connection, sessions, call_scale, plan_only=True)).values())
        floor_server = sum(
            (
                await run_workload(
                    connection, sessions, call_scale, plan_only=True, server_planning=True
                )
            ).values()
        )
        results, server_results = {}, {}
        for label, indexes in (
            ("primary keys only", []),
            ("dexter-style", dexter),
            ("revue", revue),
        ):
            size, names = await apply(connection, indexes)
            await run_workload(connection, sessions, min(call_scale, 0.05))  # warm the cache
            per_shape = await run_workload(connection, sessions, call_scale)
            server = sum((await run_workload(connection, sessions, call_scale, True)).values())
            seconds = sum(per_shape.values())
            await drop(connection, names)
            results[label] = seconds
            server_results[label] = server
            print(
                f"{label:>18}: {len(indexes):2d} indexes, {size / 2**20:7.1f} MiB, "
                f"workload {seconds * 1000:9.1f} ms (server-side {server * 1000:9.1f} ms)"
            )
            for index in indexes:
                print(f"{'':>22}{index}")
            slowest = sorted(per_shape.items(), key=lambda item: -item[1])[: arguments.show]
            print(
                f"{'':>22}slowest shapes: "
                + "; ".join(f"{name} {spent * 1000:.1f} ms" for name, spent in slowest)
            )
        print(
            f"revue / dexter-style workload time: {results['revue'] / results['dexter-style']:.3f}"
            " (target <= 0.5)"
        )
        print(f"revue / primary keys only: {results['revue'] / results['primary keys only']:.4f}")
        ratio = server_results["revue"] / server_results["dexter-style"]
        print(f"server-side (planning + execution): revue / dexter-style {ratio:.3f}")
        print(
            f"floor (planned, not executed): {floor * 1000:.1f} ms, server-side"
            f" {floor_server * 1000:.1f} ms = {floor / results['dexter-style']:.3f} /"
            f" {floor_server / server_results['dexter-style']:.3f} of dexter-style's"
            " (no index set can go below it)"
        )
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=400_000)
    parser.add_argument("--call-scale", type=float, default=0.2)
    parser.add_argument("--show", type=int, default=4, help="slowest shapes to print")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sessions, arguments.call_scale))
