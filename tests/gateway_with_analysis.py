"""The real gateway and analysis apps in-process, on the test servers."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx

from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.analysis.app import create_app as analysis_app
from revue.analysis.settings import AnalysisSettings
from revue.cache.app import create_app as cache_app
from revue.cache.settings import CacheSettings
from revue.common.db import migrations
from revue.gateway.app import create_app as gateway_app
from revue.gateway.settings import GatewaySettings

PASSWORD = "Correct-Horse-Battery-9"
RELAXED_LIMITS = {
    "jwt_secret": "suite-secret-" + "y" * 40,
    "rate_limit_per_minute": 100_000,
    "rate_limit_burst": 10_000,
    "rate_limit_batch_per_minute": 100_000,
    "rate_limit_batch_burst": 10_000,
    "rate_limit_anonymous_per_minute": 100_000,
    "rate_limit_anonymous_burst": 10_000,
    "argon2_time_cost": 1,
    "argon2_memory_cost_kib": 8192,
}


class DelayedProvider:
    """The builtin analyzer, answering after `delay` seconds (to provoke timeouts)."""

    def __init__(self, delay: float, fail: bool = False) -> None:
        self.inner = BuiltinProvider(processes=1)
        self.name, self.version, self.model = self.inner.name, self.inner.version, None
        self.items_per_call = self.inner.items_per_call
        self.calls_per_minute = self.inner.calls_per_minute
        self.delay = delay
        self.fail = fail

    async def analyze_batch(self, items: Sequence):
        await asyncio.sleep(self.delay)
        if self.fail:
            from revue.common.contracts.errors import RetryableProviderError

            raise RetryableProviderError("provider outage (injected)")
        return await self.inner.analyze_batch(items)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def migrate(database_url: str) -> None:
    for module in ("revue.gateway", "revue.analysis"):
        await asyncio.to_thread(migrations.upgrade, module, database_url)


@contextlib.asynccontextmanager
async def running(
    make_settings,
    database_url: str,
    *,
    analysis: bool = True,
    analysis_replicas: int = 1,
    cache_service: bool = False,
    provider=None,
    gateway_overrides: dict | None = None,
    analysis_overrides: dict | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(database_url)
    gateway = gateway_app(
        make_settings(
            GatewaySettings, database_url, **{**RELAXED_LIMITS, **(gateway_overrides or {})}
        ),
        configure_process=False,
    )
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(analysis_replicas if analysis else 0):
            worker = analysis_app(
                make_settings(AnalysisSettings, database_url, **(analysis_overrides or {})),
                configure_process=False,
                provider=provider,
            )
            await stack.enter_async_context(worker.router.lifespan_context(worker))
        if cache_service:
            cache = cache_app(make_settings(CacheSettings), configure_process=False)
            await stack.enter_async_context(cache.router.lifespan_context(cache))
        await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway")
        )
        yield client


async def login(client: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    email = email or f"suite-{uuid.uuid4().hex[:8]}@example.com"
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Suite User"},
    )
    assert registered.status_code == 201, registered.text
    token = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def login_admin(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    """A new account made administrator the operator's way (`revue-gateway admin grant`)."""
    from revue.gateway.adapters.accounts import Accounts

    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Suite Admin"},
    )
    assert registered.status_code == 201, registered.text
    await Accounts(gateway_of(client).db).set_admin(email, True)
    token = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def gateway_of(client: httpx.AsyncClient):
    """The gateway's own context behind a client from `running` (its AnalysisClient...)."""
    return client._transport.app.state.gateway
