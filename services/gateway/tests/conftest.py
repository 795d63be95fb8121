"""Fixtures of the gateway's tests: a migrated database and the real app on real servers."""

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert

from revue.common.db import migrations
from revue.common.db.engine import create_engine
from revue.common.settings import ServiceSettings
from revue.gateway.adapters.tables import users
from revue.gateway.app import create_app
from revue.gateway.settings import GatewaySettings

PASSWORD = "Correct-Horse-Battery-9"
SECRET = "test-secret-" + "x" * 40


@pytest.fixture
async def gateway_database(database_url):
    await asyncio.to_thread(migrations.upgrade, "revue.gateway", database_url)
    return database_url


@pytest.fixture
def gateway_settings(make_settings, gateway_database):
    def build(**overrides) -> GatewaySettings:
        values = {
            "jwt_secret": SECRET,
            "rate_limit_per_minute": 100_000,
            "rate_limit_burst": 10_000,
            "rate_limit_batch_per_minute": 100_000,
            "rate_limit_batch_burst": 10_000,
            "rate_limit_anonymous_per_minute": 100_000,
            "rate_limit_anonymous_burst": 10_000,
            "argon2_time_cost": 1,
            "argon2_memory_cost_kib": 8192,
            **overrides,
        }
        return make_settings(GatewaySettings, gateway_database, **values)

    return build


@contextlib.asynccontextmanager
async def serving(settings: GatewaySettings):
    app = create_app(settings, configure_process=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        client.app = app
        yield client


@pytest.fixture
async def client(gateway_settings):
    async with serving(gateway_settings()) as running:
        yield running


async def register(client: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    """A new user's Authorization header."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Test User"},
    )
    assert response.status_code == 201, response.text
    token = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
async def user(client):
    return await register(client)


@pytest.fixture
async def engine(gateway_database):
    engine = create_engine(ServiceSettings(database_url=gateway_database))
    yield engine
    await engine.dispose()


async def new_user(engine) -> uuid.UUID:
    async with engine.begin() as connection:
        return (
            await connection.execute(
                insert(users)
                .values(
                    email=f"{uuid.uuid4().hex[:8]}@example.com", password_hash="x", full_name="T"
                )
                .returning(users.c.id)
            )
        ).scalar_one()


def finished(owner: uuid.UUID, result) -> dict:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "owner_id": owner,
        "mode": "sync",
        "status": "succeeded",
        "priority": "normal",
        "language": "python",
        "idempotency_key": None,
        "request_hash": "0" * 64,
        "result": result,
        "error": None,
        "created_at": now,
        "completed_at": now,
    }
