"""pg_stat_statements: read where it is loaded, explained where it is not, merged by fingerprint."""

import pglast

from revue.query_optimizer.advisor.selection import WorkloadQuery
from revue.query_optimizer.pg_stat_statements import merge, read_statements


def query(sql: str, calls: float) -> WorkloadQuery:
    return WorkloadQuery(pglast.fingerprint(sql), sql, calls)


async def test_without_the_extension_the_reason_is_given(seeded):
    found, note = await read_statements(seeded, 10)
    assert found == [] and "not installed" in note
    if await seeded.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
    ):
        await seeded.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        found, note = await read_statements(seeded, 10)
        preloaded = await seeded.fetchval("SHOW shared_preload_libraries")
        if "pg_stat_statements" in preloaded:
            assert "from pg_stat_statements" in note
        else:
            assert found == [] and "shared_preload_libraries" in note


def test_merging_keeps_one_entry_per_fingerprint_the_real_text_and_the_larger_count():
    recorded = [query("SELECT * FROM users WHERE id = $1", 40)]
    server = [
        query("select * from users where id = $1", 900),
        query("SELECT * FROM projects WHERE owner_id = $1", 12),
    ]
    merged = {q.fingerprint: q for q in merge(recorded, server)}
    assert len(merged) == 2
    users = merged[recorded[0].fingerprint]
    assert (users.statement, users.calls) == (recorded[0].statement, 900)
