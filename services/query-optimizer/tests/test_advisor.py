"""Index advice on real PostgreSQL: hypopg where installed, else rolled-back real indexes."""

import pglast
import pytest

from revue.query_optimizer.advisor.catalog import Catalog
from revue.query_optimizer.advisor.selection import Budget, IndexAdvisor, WorkloadQuery
from revue.query_optimizer.advisor.whatif import (
    HypotheticalIndexes,
    IndexSpec,
    RolledBackIndexes,
    hypopg_available,
)
from revue.query_optimizer.demo_schema import WORKLOAD

TABLES = {"users", "projects", "analysis_sessions", "code_review_results", "audit_log"}
DASHBOARD = (
    "SELECT id, status, created_at FROM analysis_sessions "
    "WHERE project_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20"
)


def query(sql: str, calls: float = 100) -> WorkloadQuery:
    return WorkloadQuery(pglast.fingerprint(sql), sql, calls)


async def planners(connection):
    """Every way of asking "what if" this database offers."""
    found = []
    if await hypopg_available(connection):
        found.append(HypotheticalIndexes(connection))
    catalog = await Catalog.load(connection, TABLES)
    found.append(RolledBackIndexes(connection, {name: True for name in catalog.tables}))
    return found, catalog


async def test_the_dashboard_query_gets_an_index_led_by_its_equality_columns(seeded):
    whatifs, catalog = await planners(seeded)
    for whatif in whatifs:
        advice = await IndexAdvisor(whatif, catalog).advise([query(DASHBOARD)])
        first = advice.recommendations[0]
        assert first.index.columns[:2] == ("project_id", "status"), whatif.method
        assert first.statement.startswith(
            'CREATE INDEX CONCURRENTLY ON "analysis_sessions" ("project_id", "status"'
        )
        assert first.fingerprints == [pglast.fingerprint(DASHBOARD)]
        assert first.improvement_pct > 50
        assert first.size_bytes > 100_000
        assert 0 < first.write_overhead < 1
        assert advice.cost_after < advice.cost_before / 2


async def test_a_covered_query_gets_nothing(seeded):
    await seeded.execute("CREATE INDEX ON analysis_sessions (project_id, status, created_at)")
    whatifs, catalog = await planners(seeded)
    for whatif in whatifs:
        advice = await IndexAdvisor(whatif, catalog).advise([query(DASHBOARD)])
        assert advice.recommendations == [], whatif.method


async def test_one_index_serves_several_statements_through_its_prefix(seeded):
    """The workload-wide choice: two shapes on one table share one index."""
    workload = [
        query(DASHBOARD, 200),
        query("SELECT count(*) FROM analysis_sessions WHERE project_id = $1 AND status = $2", 100),
    ]
    whatifs, catalog = await planners(seeded)
    advice = await IndexAdvisor(whatifs[0], catalog).advise(workload)
    shared = advice.recommendations[0]
    assert shared.index.columns[:2] == ("project_id", "status")
    assert sorted(shared.fingerprints) == sorted(q.fingerprint for q in workload)


async def test_the_budget_caps_the_count_and_the_choice_is_by_benefit(seeded):
    workload = [query(shape.sql, shape.calls) for shape in WORKLOAD]
    whatifs, catalog = await planners(seeded)
    unlimited = await IndexAdvisor(whatifs[0], catalog).advise(workload)
    assert len(unlimited.recommendations) >= 5
    capped = await IndexAdvisor(whatifs[0], catalog, Budget(max_indexes=2)).advise(workload)
    assert len(capped.recommendations) == 2
    assert capped.cost_before == pytest.approx(unlimited.cost_before)
    assert unlimited.cost_after < capped.cost_after < capped.cost_before


async def test_malformed_and_unplannable_statements_are_skipped_with_a_reason(seeded):
    whatifs, catalog = await planners(seeded)
    workload = [
        query("SELECT id FROM analysis_sessions WHERE project_id = $1"),
        WorkloadQuery("broken", "SELEC nothing FROM", 10),
        WorkloadQuery("two", "SELECT 1; DROP TABLE users", 10),
        WorkloadQuery("ddl", "DROP TABLE users", 10),
    ]
    advice = await IndexAdvisor(whatifs[0], catalog).advise(workload)
    assert set(advice.skipped) == {"broken", "two", "ddl"}
    assert "syntax error" in advice.skipped["broken"]
    assert "single" in advice.skipped["two"]
    assert await seeded.fetchval("SELECT count(*) FROM users") > 0  # nothing was executed
    (only,) = advice.recommendations  # for the one statement that plans
    assert only.index.columns[0] == "project_id"


async def test_verify_builds_the_index_and_measures_before_and_after(seeded):
    from revue.query_optimizer.verify import verify

    index = IndexSpec("analysis_sessions", ("project_id", "status", "created_at"))
    writes = "UPDATE analysis_sessions SET status = 'x' WHERE id = $1"
    limited = "SELECT id FROM analysis_sessions WHERE project_id = $1 LIMIT $2"
    result = await verify(
        seeded,
        index,
        [("dashboard", DASHBOARD), ("write", writes), ("limit", limited)],
        samples=10,
    )
    timings = {t.fingerprint: t for t in result.statements}
    dashboard = timings["dashboard"]
    assert dashboard.before_ms > dashboard.after_ms > 0
    assert dashboard.speedup > 2
    assert timings["write"].skipped == "not executed: only a single SELECT is executed"
    assert timings["limit"].skipped == "no column for $2"
    assert result.size_bytes > 100_000 and not result.kept
    assert await seeded.fetchval("SELECT to_regclass($1)", result.name) is None  # dropped
    assert await seeded.fetchval("SELECT count(*) FROM analysis_sessions WHERE status = 'x'") == 0


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT set_config('role', 'postgres', false)", "set_config"),
        ("SELECT * INTO stolen FROM users", "SELECT INTO"),
        ("SELECT * FROM users FOR UPDATE", "row locks"),
        ("WITH gone AS (DELETE FROM users RETURNING id) SELECT * FROM gone", "data-modifying"),
        ("SELECT public.evil(1)", "public.evil"),
        ("SELECT 1; DROP TABLE users", "single SELECT"),
    ],
)
def test_only_plain_selects_of_allow_listed_functions_are_executed(sql, reason):
    from revue.query_optimizer.safety import UnsafeStatementError, ensure_plain_select

    with pytest.raises(UnsafeStatementError, match=reason):
        ensure_plain_select(sql)
    ensure_plain_select("SELECT lower(email), count(*) FROM users WHERE id = $1 GROUP BY 1")


async def test_statements_are_timed_as_a_role_without_superuser(seeded):
    from revue.query_optimizer.verify import reader_role

    role = await reader_role(seeded)
    assert role == "pg_read_all_data"  # the test server's login is a superuser
    async with seeded.transaction(readonly=True):
        await seeded.execute(f'SET LOCAL ROLE "{role}"')
        assert not await seeded.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        assert await seeded.fetchval("SELECT count(*) FROM users") > 0  # reads every table


async def test_prepare_reads_strings_as_pglast_does_whatever_the_session_says(seeded):
    from revue.query_optimizer.explain import explain

    await seeded.execute("SET standard_conforming_strings = off")
    try:
        # One statement to pglast; to a server reading backslashes as escapes the
        # string would run on to the end (and a crafted one could end elsewhere).
        plan = await explain(seeded, r"SELECT id FROM users WHERE email = 'x\' AND id = $1")
        assert plan[0]["Plan"]
    finally:
        await seeded.execute("RESET standard_conforming_strings")
