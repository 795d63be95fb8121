"""`revue-query-optimizer advise`: the CLI, run as a user runs it, against real PostgreSQL.

With `--queries` on the shared server (hypopg where it is installed), and
with `--pg-stat-statements` on a private embedded server started with the
extension preloaded (which has no hypopg: the fallback and its hint).
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import orjson
import pytest

from revue.common.db.engine import asyncpg_dsn
from revue.devkit.embedded.servers import EmbeddedPostgres
from revue.devkit.testing.waiting import wait_until
from revue.query_optimizer.demo_schema import WORKLOAD, create_and_seed

DASHBOARD = next(shape for shape in WORKLOAD if shape.name.startswith("dashboard"))
QUERIES = f"""
-- the dashboard, twice with other constants: one shape
{DASHBOARD.sql};
SELECT id, status, created_at FROM analysis_sessions
    WHERE project_id = 7 AND status = 'failed' ORDER BY created_at DESC LIMIT 20;
SELECT id, plan FROM users WHERE email = $1;
SELEC id FROM users;
VACUUM analysis_sessions;
SELECT * FROM no_such_table WHERE id = $1;
"""


async def advise(*arguments: str) -> tuple[int, str, str]:
    """The installed CLI in a child process: exit code, stdout, stderr."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "revue.query_optimizer.entrypoints.cli",
        "advise",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), timeout=300)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def test_advice_from_a_queries_file_with_bad_statements_skipped(
    seeded, database_url, tmp_path
):
    queries = tmp_path / "queries.sql"
    queries.write_text(QUERIES)
    code, out, err = await advise(
        "--database-url", database_url, "--queries", str(queries), "--json"
    )
    assert code == 0, err
    advice = orjson.loads(out)
    first = advice["recommendations"][0]
    assert first["statement"].startswith(
        'CREATE INDEX CONCURRENTLY ON "analysis_sessions" ("project_id", "status"'
    )
    assert first["columns"][:2] == ["project_id", "status"]
    assert first["estimated_improvement_pct"] > 50 and first["size_bytes"] > 0
    assert DASHBOARD.sql in first["helps"]  # the first text of the shape stands for it
    reasons = {item["statement"].split()[0]: item["reason"] for item in advice["skipped"]}
    assert reasons["SELEC"].startswith("does not parse")
    assert reasons["VACUUM"] == "VACUUM is not a SELECT, INSERT, UPDATE or DELETE"
    assert "lacks: no_such_table" in next(
        item["reason"] for item in advice["skipped"] if "no_such_table" in item["statement"]
    )
    assert "statement shapes from" in err  # progress on stderr, the answer alone on stdout
    # Nothing was left behind on the database: no index, no hypothetical one.
    assert (
        await seeded.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'analysis_sessions'"
        )
        == 1
    )  # the primary key

    code, text, _ = await advise("--database-url", database_url, "--queries", str(queries))
    assert code == 0
    statements = [line for line in text.splitlines() if line.startswith("CREATE INDEX")]
    assert statements and all(s.endswith(";") and "CONCURRENTLY" in s for s in statements)
    assert "-- skipped (does not parse" in text


async def test_verify_measures_each_statement_before_and_after(seeded, database_url, tmp_path):
    """A lookup by primary key gains nothing from a second index: verification says so."""
    queries = tmp_path / "queries.sql"
    queries.write_text(f"{DASHBOARD.sql};\nSELECT * FROM analysis_sessions WHERE id = $1;\n")
    code, out, err = await advise(
        "--database-url", database_url, "--queries", str(queries), "--json", "--verify",
        "--samples", "3",
    )  # fmt: skip
    assert code == 0, err
    advice = orjson.loads(out)
    kept = advice["recommendations"]
    assert kept and all(r["measured_improvement_pct"] > 5 for r in kept)
    measured = {m["statement"]: m for m in advice["measured"]}
    dashboard = measured[DASHBOARD.sql]
    assert dashboard["after_ms"] < dashboard["before_ms"]
    assert "verifying" in err
    assert (
        await seeded.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'analysis_sessions'"
        )
        == 1
    )  # built in a rolled-back transaction: gone


async def ensure_seeded(connection: asyncpg.Connection) -> None:
    """The private server's tables, once for the module's tests."""
    if not await connection.fetchval("SELECT to_regclass('analysis_sessions') IS NOT NULL"):
        await create_and_seed(connection, 20_000)


@pytest.fixture(scope="module")
def private_server(tmp_path_factory) -> EmbeddedPostgres:
    """A private PostgreSQL with pg_stat_statements preloaded (the shared one has not)
    that logs every statement with its duration, as stderr lines and as csvlog."""
    server = EmbeddedPostgres(
        tmp_path_factory.mktemp("pgss"),
        settings={
            "shared_preload_libraries": "pg_stat_statements",
            "logging_collector": "on",
            "log_destination": "stderr,csvlog",
            "log_directory": "log",
            "log_filename": "server.log",
            "log_file_mode": "0644",
            "log_min_duration_statement": "0",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def statements_server(private_server) -> str:
    return private_server.url


async def test_advice_from_pg_stat_statements_on_a_server_without_hypopg(statements_server):
    connection = await asyncpg.connect(asyncpg_dsn(statements_server))
    try:
        await ensure_seeded(connection)
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await connection.execute("SELECT pg_stat_statements_reset()")
        for project in range(1, 30):  # the application's traffic, as the server counts it
            await connection.fetch(DASHBOARD.sql, project, "completed")
        has_hypopg = await connection.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'"
        )
    finally:
        await connection.close()

    code, out, err = await advise(
        "--database-url", statements_server, "--pg-stat-statements", "--json"
    )
    assert code == 0, err
    advice = orjson.loads(out)
    assert "from pg_stat_statements" in err
    dashboard = next(r for r in advice["recommendations"] if r["table"] == "analysis_sessions")
    assert dashboard["columns"][:2] == ["project_id", "status"]
    assert any("project_id = $1" in text for text in dashboard["helps"])
    if not has_hypopg:  # the embedded server's case: told how, and answered all the same
        assert "CREATE EXTENSION hypopg" in advice["note"]
        assert advice["method"] == "real indexes in a rolled-back transaction"


async def test_the_workload_source_is_required_and_exclusive(tmp_path):
    code, _, err = await advise("--database-url", "postgresql://127.0.0.1/x")
    assert code == 2 and "one of the arguments" in err
    missing = tmp_path / "nothing.sql"
    code, _, err = await advise(
        "--database-url", "postgresql://127.0.0.1/x", "--queries", str(missing)
    )
    assert code == 1 and "cannot read" in err and "nothing.sql" in err
    assert "Traceback" not in err
    queries = tmp_path / "queries.sql"
    queries.write_text("SELECT 1 FROM users WHERE id = $1;\n")
    code, _, err = await advise(
        "--database-url", "postgresql://nobody@127.0.0.1:1/x", "--queries", str(queries)
    )
    assert code == 1 and "cannot connect to 127.0.0.1:1/x" in err and "Traceback" not in err


@pytest.mark.parametrize("log_name", ["server.log", "server.csv"])
async def test_advice_from_the_servers_own_log(private_server, log_name):
    """The server's log of the application's traffic, as PostgreSQL wrote it."""
    connection = await asyncpg.connect(asyncpg_dsn(private_server.url))
    try:
        await ensure_seeded(connection)
        for project in range(1, 20):
            await connection.fetch(DASHBOARD.sql, project, "failed")
    finally:
        await connection.close()
    log = private_server.pgdata / "log" / log_name
    await wait_until(lambda: "ORDER BY created_at DESC LIMIT 20" in log.read_text(),
                     message="the dashboard query in the log")  # fmt: skip

    code, out, err = await advise("--database-url", private_server.url, "--log", str(log), "--json")
    assert code == 0, err
    advice = orjson.loads(out)
    first = next(r for r in advice["recommendations"] if r["table"] == "analysis_sessions")
    assert first["columns"][:2] == ["project_id", "status"]
    assert "statement shapes from" in err
