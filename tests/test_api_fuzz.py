"""Schemathesis over the gateway's OpenAPI schema, every check: the schema says exactly what
the server does.

The gateway, analysis, cache and cdn services run as real processes on the
test servers; schemathesis's own command runs every phase (the schema's
examples, coverage of each constraint's edges, random valid and invalid
data, stateful sequences following the links between operations) with every
check (no 5xx; status codes, content types, headers and bodies as
documented; schema-valid requests accepted and schema-invalid ones refused;
auth enforced; `Allow` on 405), as a real user made administrator, and must
find nothing.
"""

import os
import re
import subprocess
import sys
import uuid

import asyncpg
import httpx
import pytest
from gateway_with_analysis import PASSWORD, RELAXED_LIMITS
from sqlalchemy.engine import make_url

from revue.common.db import migrations
from revue.common.db.engine import asyncpg_dsn, create_engine
from revue.common.settings import ServiceSettings
from revue.devkit.embedded.probes import free_port, run_blocking
from revue.devkit.suite import ready
from revue.devkit.testing.waiting import wait_until_sync

# At least this many generated requests in all.
TOTAL_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
PER_OPERATION = 40


@pytest.fixture(scope="module")
def live_gateway(test_servers, tmp_path_factory):
    postgres = test_servers.urls["postgres"]
    name = f"revue_fuzz_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(postgres))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    run_blocking(admin(f'CREATE DATABASE "{name}"'))
    database_url = make_url(postgres).set(database=name).render_as_string(hide_password=False)
    for module in ("revue.gateway", "revue.analysis", "revue.cdn", "revue.query_optimizer"):
        migrations.upgrade(module, database_url)
    gateway_port, analysis_port, cache_port, cdn_port, qo_port = (free_port() for _ in range(5))
    env = {
        **os.environ,
        "NATS_URL": test_servers.urls["nats"],
        "REDIS_URL": test_servers.urls["redis"],
        "DATABASE_URL": database_url,
        "BUS_NAMESPACE": f"fz{uuid.uuid4().hex[:8]}",
        "GATEWAY_PORT": str(gateway_port),
        "ANALYSIS_PORT": str(analysis_port),
        "CACHE_PORT": str(cache_port),
        "CDN_PORT": str(cdn_port),
        "QUERY_OPTIMIZER_PORT": str(qo_port),
        "CDN_STORE_DIR": str(tmp_path_factory.mktemp("cdn-store")),
        "LOG_LEVEL": "ERROR",
        **{key.upper(): str(value) for key, value in RELAXED_LIMITS.items()},
    }
    processes = [
        subprocess.Popen([sys.executable, "-m", module], env=env)
        for module in (
            "revue.analysis", "revue.cache", "revue.cdn", "revue.query_optimizer", "revue.gateway"
        )
    ]  # fmt: skip
    try:
        for port in (analysis_port, cache_port, cdn_port, qo_port, gateway_port):
            wait_until_sync(lambda port=port: ready(port), timeout=60, message=f"port {port} ready")
        yield f"http://127.0.0.1:{gateway_port}", database_url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            assert process.wait(30) == 0
        run_blocking(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def admin_token(live_gateway):
    from revue.gateway.adapters.accounts import Accounts

    url, database_url = live_gateway
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=url) as client:
        client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Fuzz Tester"},
        ).raise_for_status()

        async def grant() -> None:
            engine = create_engine(ServiceSettings(database_url=database_url))
            try:
                await Accounts(engine).set_admin(email, True)
            finally:
                await engine.dispose()

        run_blocking(grant())
        token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        return token.json()["access_token"]


def test_every_check_in_every_phase_finds_nothing(live_gateway, admin_token, tmp_path):
    url, _ = live_gateway
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(PER_OPERATION),
        "--header", f"Authorization: Bearer {admin_token}",
        "--seed", "20261204",
        "--no-color",
        "--request-timeout", "60",
    ]  # fmt: skip
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False
    )
    report = run.stdout + run.stderr
    print(report[-3000:])
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert run.returncode == 0, report[-8000:]
    assert generated, report[-3000:]
    assert int(generated.group(1)) >= TOTAL_EXAMPLES
    assert generated.group(1) == generated.group(2)  # every case passed every check
    assert "Stateful" in report
