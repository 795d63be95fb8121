"""Schemathesis over the gateway's OpenAPI schema: no 5xx, no response off the schema.

The gateway and the analysis service run as real processes on the test
servers; every operation gets a bounded number of generated requests, sent
with a real user's token.
"""

import os
import subprocess
import sys
import uuid

import asyncpg
import httpx
import pytest
import schemathesis
from gateway_with_analysis import PASSWORD, RELAXED_LIMITS
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.engine import make_url

from revue.common import migrations
from revue.common.database import asyncpg_dsn
from revue.common.embedded.probes import free_port, run_blocking
from revue.common.suite import ready
from revue.common.testing.waiting import wait_until_sync

# At least this many generated requests in all, spread evenly over the operations.
TOTAL_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
# Every other check runs (no 5xx, status codes, content types, response
# schemas and headers, auth enforced, invalid data refused). "Schema-valid
# data is accepted" is left out: some rules cannot be said in JSON Schema
# (an opaque pagination cursor, the list of common passwords, the 10 MB total
# of a batch, unique batch ids), so a generated request may be schema-valid
# and still rightly refused with a 422.
SEMANTIC_RULES = [positive_data_acceptance]


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
    for module in ("revue.gateway", "revue.analysis", "revue.cdn"):
        migrations.upgrade(module, database_url)
    gateway_port, analysis_port, cache_port, cdn_port = (free_port() for _ in range(4))
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
        "CDN_STORE_DIR": str(tmp_path_factory.mktemp("cdn-store")),
        "LOG_LEVEL": "ERROR",
        **{key.upper(): str(value) for key, value in RELAXED_LIMITS.items()},
    }
    processes = [
        subprocess.Popen([sys.executable, "-m", module], env=env)
        for module in ("revue.analysis", "revue.cache", "revue.cdn", "revue.gateway")
    ]
    try:
        for port in (analysis_port, cache_port, cdn_port, gateway_port):
            wait_until_sync(lambda port=port: ready(port), timeout=60, message=f"port {port} ready")
        yield f"http://127.0.0.1:{gateway_port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            assert process.wait(30) == 0
        run_blocking(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def auth_headers(live_gateway):
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=live_gateway) as client:
        client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Fuzz Tester"},
        ).raise_for_status()
        token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_every_operation_conforms_and_never_fails_on_the_server(live_gateway, auth_headers):
    schema = schemathesis.openapi.from_url(f"{live_gateway}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    per_operation = -(-TOTAL_EXAMPLES // len(operations))  # ceiling
    calls, rounds = 0, 0

    def exercise_operation(operation) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=per_operation,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case) -> None:
            nonlocal calls
            calls += 1
            response = case.call_and_validate(
                headers=auth_headers, timeout=60, excluded_checks=SEMANTIC_RULES
            )
            assert response.status_code < 500, (case.method, case.path, response.text)

        exercise()

    # Operations without parameters exhaust after one example, so the others
    # get further rounds (fresh random draws) until the total is reached.
    while calls < TOTAL_EXAMPLES and rounds < 10:
        rounds += 1
        for operation in operations:
            exercise_operation(operation)
    print(
        f"schemathesis: {calls} generated requests over {len(operations)} operations "
        f"in {rounds} rounds"
    )
    assert calls >= TOTAL_EXAMPLES
