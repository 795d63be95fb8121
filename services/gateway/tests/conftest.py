"""Fixtures of the gateway's tests: a migrated database and the real app on real servers."""

import asyncio
import contextlib
import uuid

import httpx
import pytest

from revue.common import migrations
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
