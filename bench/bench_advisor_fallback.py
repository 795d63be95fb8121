"""Index advice without hypopg: real indexes in a rolled-back transaction, against hypopg.

A database without hypopg (the embedded PostgreSQL, most managed services
until an operator installs it) is advised on real indexes built inside a
transaction that is rolled back. This times the advisor on the seeds' schema
(`revue.query_optimizer.demo_schema`, skewed data) and its 22-shape workload,
in the same run:

- hypopg (the baseline: hypothetical indexes, nothing built);
- real indexes, each candidate built once and a configuration planned in a
  savepoint where the others are dropped (`RolledBackIndexes`);
- real indexes built anew for every configuration asked about (what
  `RolledBackIndexes` did before), unless `--skip-rebuild` (it takes minutes).

Printed: seconds, plans asked, indexes built, and how many recommendations
each shares with the others (real indexes and hypothetical ones plan alike
but not the same: hypopg's sizes are estimates, and a real index has its own
statistics).

    .venv/bin/python bench/bench_advisor_fallback.py [--sessions 100000] [--skip-rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import pglast
from infra import bench_environment

from revue.common.db.engine import asyncpg_dsn
from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.selection import IndexAdvisor, WorkloadQuery
from revue.query_optimizer.advisor.whatif import (
    HypotheticalIndexes,
    IndexSpec,
    RolledBackIndexes,
    WhatIf,
    hypopg_available,
)
from revue.query_optimizer.demo_schema import WORKLOAD, create_and_seed
from revue.query_optimizer.explain import plan_cost

TABLES = {"users", "projects", "analysis_sessions", "code_review_results", "audit_log"}


class RebuiltEachTime(RolledBackIndexes):
    """The way before: every configuration's indexes built in a transaction of its own."""

    method = "real indexes, rebuilt for every plan"
    builds = 0

    async def cost(
        self,
        statement: str,
        indexes: Sequence[IndexSpec],
        values: Sequence[str | None] | None = None,
    ) -> float:
        async def planned() -> float:
            for number, index in enumerate(indexes):
                if self.allowed.get(index.table, False):
                    await self.connection.execute(index.ddl(name=f"revue_rebuilt_{number}"))
                    self.builds += 1
            return await plan_cost(self.connection, statement, values)

        return await self._rolled_back(planned)

    async def size(self, index: IndexSpec) -> int:
        async def built() -> float:
            await self.connection.execute(index.ddl(name="revue_rebuilt_size"))
            self.builds += 1
            return float(
                await self.connection.fetchval(
                    "SELECT pg_relation_size(to_regclass('revue_rebuilt_size'))"
                )
            )

        if index not in self._sizes:
            self._sizes[index] = int(await self._rolled_back(built))
        return self._sizes[index]

    async def _rolled_back(self, work: Callable[[], Awaitable[float]]) -> float:
        try:
            async with self.connection.transaction():
                raise _RolledBack(await work())
        except _RolledBack as rolled_back:
            return rolled_back.value


class _RolledBack(Exception):
    """How a result leaves a transaction that is rolled back."""

    def __init__(self, value: float) -> None:
        self.value = value


class Counted:
    """A what-if planner that counts the plans asked of it."""

    def __init__(self, inner: WhatIf) -> None:
        self.inner = inner
        self.method = inner.method
        self.plans = 0

    async def cost(
        self,
        statement: str,
        indexes: Sequence[IndexSpec],
        values: Sequence[str | None] | None = None,
    ) -> float:
        self.plans += 1
        return await self.inner.cost(statement, indexes, values)

    async def size(self, index: IndexSpec) -> int:
        return await self.inner.size(index)

    async def clear(self) -> None:
        await self.inner.clear()


async def advise(whatif: WhatIf, catalog: Catalog) -> tuple[float, int, list[str]]:
    workload = [WorkloadQuery(pglast.fingerprint(s.sql), s.sql, s.calls) for s in WORKLOAD]
    counted = Counted(whatif)
    started = time.perf_counter()
    advice = await IndexAdvisor(counted, catalog).advise(workload)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    return seconds, counted.plans, [str(r.index) for r in advice.recommendations]


async def main(sessions: int, skip_rebuild: bool) -> None:
    async with bench_environment() as env:
        connection = await asyncpg.connect(asyncpg_dsn(env["DATABASE_URL"]))
        try:
            await create_and_seed(connection, sessions)
            catalog = await Catalog.load(connection, TABLES)
            everywhere = dict.fromkeys(catalog.tables, True)
            print(f"seeds' schema, {sessions:,} sessions, {len(WORKLOAD)} shapes")
            runs: list[tuple[str, WhatIf]] = []
            if await hypopg_available(connection):
                runs.append(("hypopg (baseline)", HypotheticalIndexes(connection, catalog)))
            else:
                print("  hypopg is not installed here: no baseline")
            runs.append(("built once, savepoints", RolledBackIndexes(connection, everywhere)))
            rebuilt = RebuiltEachTime(connection, everywhere)
            if not skip_rebuild:
                runs.append(("rebuilt for every plan", rebuilt))
            print(f"  {'way':<24} {'seconds':>8} {'plans':>6}  recommendations")
            times = {}
            choices: dict[str, list[str]] = {}
            for label, whatif in runs:
                seconds, plans, chosen = await advise(whatif, catalog)
                times[label], choices[label] = seconds, chosen
                shared = ", ".join(
                    f"{len(set(chosen) & set(other))} as {name}'s"
                    for name, other in choices.items()
                    if name != label
                )
                print(f"  {label:<24} {seconds:>8.1f} {plans:>6}  {len(chosen)} ({shared or '-'})")
            if "rebuilt for every plan" in times:
                ratio = times["rebuilt for every plan"] / times["built once, savepoints"]
                print(f"  built once vs rebuilt: {ratio:.1f}x faster ({rebuilt.builds} builds)")
            if "hypopg (baseline)" in times:
                ratio = times["built once, savepoints"] / times["hypopg (baseline)"]
                print(f"  built once / hypopg: {ratio:.1f}x")
        finally:
            await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--skip-rebuild", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sessions, arguments.skip_rebuild))
