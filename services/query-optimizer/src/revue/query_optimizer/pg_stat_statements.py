"""The server's own statement statistics, where the extension is loaded.

pg_stat_statements counts every statement (not a sample) of every client,
the suite's and others'. Its texts are already normalized (`$1`), which is
what generic plans need. Read for this database only; merged into the
recorded workload by fingerprint, keeping the larger call count (the same
statements seen twice are not added twice).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pglast

from revue.query_optimizer.advisor.selection import WorkloadQuery

TOP = """
SELECT query, calls, total_exec_time
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT $1
"""


async def read_statements(
    connection: asyncpg.Connection, limit: int
) -> tuple[list[WorkloadQuery], str]:
    """The top statements and a word on where they came from (or why none did)."""
    if not await connection.fetchval("SELECT to_regclass('pg_stat_statements') IS NOT NULL"):
        return [], "pg_stat_statements is not installed in this database"
    try:
        rows = await connection.fetch(TOP, limit)
    except asyncpg.PostgresError as error:  # e.g. not in shared_preload_libraries
        return [], f"pg_stat_statements unavailable: {error}"
    found = []
    for row in rows:
        try:
            fingerprint = pglast.fingerprint(row["query"])
        except pglast.parser.ParseError:
            continue  # utility statements and the like: nothing to index
        found.append(WorkloadQuery(fingerprint, row["query"], float(row["calls"])))
    return found, f"{len(found)} statements from pg_stat_statements"


def merge(
    recorded: Sequence[WorkloadQuery], server: Sequence[WorkloadQuery]
) -> list[WorkloadQuery]:
    """One entry per fingerprint; the recorded text (a real example) wins, the larger count too."""
    merged = {query.fingerprint: query for query in server}
    for query in recorded:
        other = merged.get(query.fingerprint)
        calls = max(query.calls, other.calls) if other else query.calls
        merged[query.fingerprint] = WorkloadQuery(query.fingerprint, query.statement, calls)
    return list(merged.values())
