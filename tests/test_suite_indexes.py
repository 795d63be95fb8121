"""The suite's own migrations carry the indexes its own queries need.

Gateway, analysis, cdn and query-optimizer run in-process on one database
whose tables are first filled to sizes where an index changes a plan (a
table of a few rows is scanned whatever its indexes). Every statement the
services send is reported (`DB_QUERY_SAMPLE_RATE=1`) to the query-optimizer,
exactly as in production; the test drives each kind of request the services
serve, then runs the advisor on that recorded workload. It must recommend
nothing: an index the suite's queries need belongs in a migration.
"""

import asyncio
import contextlib
import io
import tarfile

import asyncpg
import httpx
from gateway_with_analysis import login, login_admin, running

from revue.cdn.app import create_app as cdn_app
from revue.cdn.settings import CdnSettings
from revue.common.db import migrations
from revue.common.db.engine import asyncpg_dsn
from revue.devkit.testing.waiting import wait_until
from revue.query_optimizer.app import create_app as optimizer_app
from revue.query_optimizer.settings import QueryOptimizerSettings

EVERY_STATEMENT = {"db_query_sample_rate": 1.0}
OPERATOR_TOKEN = "operator-token-" + "q" * 24
ADMIN = "dba@example.com"
SUITE_TABLES = {
    "users",
    "api_keys",
    "jobs",
    "analysis_sessions",
    "findings",
    "cdn_deployments",
    "cdn_invalidations",
    "qo_query_stats",
}

# The suite's tables at the sizes of a busy month: owners, their jobs and
# sessions skewed towards a few heavy users, findings per session, a history
# of CDN invalidations. Then statistics, as autovacuum would have them.
SEED = """
INSERT INTO users (email, password_hash, full_name)
SELECT 'seed-' || n || '@example.com', 'x', 'Seed ' || n FROM generate_series(1, 5000) n;

INSERT INTO api_keys (user_id, prefix, key_hash, name)
SELECT id, 'rvk_seed' || row_number() OVER (), md5(id::text), 'seed' FROM users;

INSERT INTO jobs (id, owner_id, mode, status, priority, language, request_hash, result,
                  created_at, completed_at)
SELECT gen_random_uuid(), owners.ids[1 + (power(random(), 3) * 4999)::int],
       CASE WHEN n % 3 = 0 THEN 'async' ELSE 'sync' END,
       CASE WHEN n % 50 = 0 THEN 'queued' ELSE 'succeeded' END, 'normal', 'python',
       md5(n::text), '{"findings": []}', now() - n * interval '1 second', now()
FROM generate_series(1, 300000) n,
     (SELECT array_agg(id ORDER BY email) AS ids FROM users) owners;

INSERT INTO analysis_sessions (job_id, owner_id, language, rules, max_issues, priority, status,
                               analyzer, analyzer_version, findings_count, duration_ms,
                               submitted_at, completed_at)
SELECT id, owner_id::text, language, '{}', 100, priority, 'succeeded', 'builtin', '1', 3, 12.5,
       created_at, completed_at
FROM jobs;

INSERT INTO findings (job_id, ordinal, rule_id, severity, line, col, message)
SELECT s.job_id, o, 'S' || (o * 101), 'medium', o, 1, 'seeded finding'
FROM analysis_sessions s, generate_series(0, 2) o;

INSERT INTO cdn_invalidations (id, paths, patterns, surrogate_keys, everything, soft, status,
                               detail, requested_at, completed_at)
SELECT gen_random_uuid(), '["/assets/app.js"]', '[]', '[]', false, false,
       CASE WHEN n % 1000 = 0 THEN 'pending' ELSE 'done' END, '',
       now() - n * interval '1 minute', now()
FROM generate_series(1, 50000) n;

ANALYZE;
"""


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@contextlib.asynccontextmanager
async def in_process(app):
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client,
    ):
        client.app = app
        yield client


async def drive_the_gateway(gateway: httpx.AsyncClient) -> None:
    """Each kind of request the gateway serves, for a few users."""
    admin = await login_admin(gateway, ADMIN)
    for round_ in range(3):
        await one_user(gateway, round_)
    await gateway.get("/api/v1/query-optimizer/report", headers=admin)
    await gateway.get("/api/v1/query-optimizer/recommendations", headers=admin)


async def one_user(gateway: httpx.AsyncClient, round_: int) -> None:
    user = await login(gateway)
    await gateway.get("/api/v1/auth/me", headers=user)
    created = await gateway.post("/api/v1/auth/api-keys", json={"name": "ci"}, headers=user)
    key = {"X-API-Key": created.json()["key"]}
    await gateway.get("/api/v1/auth/api-keys", headers=key)
    sync_ids = []
    for n in range(4):
        body = {"code": f"import os\nos.system(input())  # {round_}-{n}\n", "language": "python"}
        for headers in (user, key):  # a miss, then a hit through the full app
            answer = await gateway.post("/api/v1/analyze", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            sync_ids.append(answer.json()["id"])
    job_ids = []
    for n in range(4):
        submitted = await gateway.post(
            "/api/v1/analyses",
            json={"code": f"x = {round_ * 10 + n}\n", "language": "python"},
            headers={**user, "Idempotency-Key": f"job-{round_}-{n}"},
        )
        assert submitted.status_code == 202, submitted.text
        job_ids.append(submitted.json()["id"])
    again = await gateway.post(
        "/api/v1/analyses",
        json={"code": f"x = {round_ * 10}\n", "language": "python"},
        headers={**user, "Idempotency-Key": f"job-{round_}-0"},
    )
    assert again.json()["id"] == job_ids[0]

    async def finished() -> bool:
        got = await gateway.post(
            "/api/v1/batch/get", json={"resource_type": "analyses", "ids": job_ids}, headers=user
        )
        assert got.status_code == 200, got.text
        results = got.json()["results"]
        return all(r["status_code"] == 200 and r["data"]["status"] != "queued" for r in results)

    await wait_until(finished, timeout=60, message="the jobs finished")
    for job_id in [*sync_ids[:2], *job_ids[:2]]:
        await gateway.get(f"/api/v1/analyses/{job_id}", headers=user)
        await gateway.get(f"/api/v1/analyses/{job_id}?fields=id,status", headers=user)
    page = await gateway.get("/api/v1/analyses?limit=5", headers=user)
    await gateway.get(f"/api/v1/analyses?limit=5&cursor={page.json()['next_cursor']}", headers=user)
    await gateway.post(
        "/api/v1/batch/analyze",
        json={"requests": [{"code": f"y = {round_}\n", "language": "python"}]},
        headers=user,
    )
    await gateway.delete(f"/api/v1/auth/api-keys/{created.json()['id']}", headers=user)
    await gateway.post(
        "/api/v1/auth/token", json={"email": "nobody@example.com", "password": "Nope-12345"}
    )


async def drive_the_cdn(cdn: httpx.AsyncClient) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for version in range(2):
        build = {"index.html": b"<html>%d</html>" % version, "app.js": b"let v = %d;" % version}
        uploaded = await cdn.post(
            "/api/v1/cdn/deployments", content=tarball(build), headers=operator
        )
        assert uploaded.status_code == 201, uploaded.text
    await cdn.get("/api/v1/cdn/deployments", headers=operator)
    for _ in range(3):
        queued = await cdn.post(
            "/api/v1/cdn/invalidations", json={"paths": ["/assets/app.js"]}, headers=operator
        )
        await cdn.get(f"/api/v1/cdn/invalidations/{queued.json()['request_id']}", headers=operator)
        await cdn.get("/api/v1/cdn/invalidations/pending", headers=operator)


async def test_the_advisor_finds_nothing_missing_in_the_suites_own_migrations(
    make_settings, database_url, tmp_path
):
    for module in ("revue.gateway", "revue.analysis", "revue.cdn", "revue.query_optimizer"):
        await asyncio.to_thread(migrations.upgrade, module, database_url)
    seeding = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await seeding.execute(SEED)
    finally:
        await seeding.close()

    optimizer = optimizer_app(
        make_settings(
            QueryOptimizerSettings, database_url, advisor_interval_s=0, **EVERY_STATEMENT
        ),
        configure_process=False,
    )
    cdn = cdn_app(
        make_settings(
            CdnSettings,
            database_url,
            cdn_store_dir=tmp_path / "cdn",
            cdn_admin_token=OPERATOR_TOKEN,
            cdn_invalidation_window=0,
            **EVERY_STATEMENT,
        ),
        configure_process=False,
    )
    async with (
        in_process(optimizer),
        in_process(cdn) as cdn_client,
        running(
            make_settings,
            database_url,
            gateway_overrides=EVERY_STATEMENT,
            analysis_overrides=EVERY_STATEMENT,
        ) as gateway,
    ):
        await drive_the_gateway(gateway)
        await drive_the_cdn(cdn_client)
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:

            async def recorded() -> set[str]:
                rows = await connection.fetch("SELECT DISTINCT unnest(tables) FROM qo_query_stats")
                tables = {row[0] for row in rows}
                wanted = {"jobs", "users", "api_keys", "analysis_sessions", "findings"}
                return (
                    tables if wanted | {"cdn_invalidations", "qo_query_stats"} <= tables else set()
                )

            await wait_until(recorded, timeout=30, message="every table's statements recorded")
            fingerprints = await connection.fetchval("SELECT count(*) FROM qo_query_stats")
        finally:
            await connection.close()
        advice = await optimizer.state.service.advising.run_once()

    assert fingerprints >= 25, f"only {fingerprints} statement shapes recorded"
    missing = [
        f"{r.statement}  (+{r.improvement_pct:.0f} %, for {len(r.fingerprints)} statements)"
        for r in advice.recommendations
    ]
    assert missing == [], "indexes the suite's migrations lack:\n" + "\n".join(missing)
