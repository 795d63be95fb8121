"""Composition root of the gateway: settings -> runtime -> adapters -> context -> entry points."""

from __future__ import annotations

import secrets

import structlog

from revue.common.cache import CacheConfig
from revue.common.cache.config import namespace_for
from revue.common.cache.fanout import shared_cache
from revue.common.service import ServiceApp, ServiceRuntime, serve
from revue.gateway.adapters.accounts import Accounts
from revue.gateway.adapters.analysis_client import AnalysisClient
from revue.gateway.adapters.jobs import JobStore
from revue.gateway.adapters.rate_limiter import GcraRateLimiter, Policy
from revue.gateway.adapters.refresh_tokens import RefreshTokens
from revue.gateway.adapters.request_groups import Grouping
from revue.gateway.context import Gateway
from revue.gateway.entrypoints import bus, http
from revue.gateway.rate_leases import LeasedRateLimiter
from revue.gateway.recorder import ResultRecorder
from revue.gateway.response_cache import ResponseCache
from revue.gateway.security import Passwords, Tokens
from revue.gateway.settings import GatewaySettings

log = structlog.get_logger("revue.gateway")


def jwt_secret(settings: GatewaySettings) -> str:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    log.warning("JWT_SECRET is not set: using a random secret; tokens end with this process")
    return secrets.token_urlsafe(48)


def create_app(
    settings: GatewaySettings | None = None, *, configure_process: bool = True
) -> ServiceApp:
    settings = settings or GatewaySettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    redis = runtime.use_redis()
    db = runtime.use_database()
    jobs = JobStore(db, runtime.query_monitor)
    result_cache = shared_cache(
        runtime.broker,
        runtime.topology,
        redis,
        CacheConfig(
            enabled=settings.cache_enabled,
            namespace=namespace_for(settings.bus_namespace),
            l1_max_entries=settings.cache_l1_max_entries,
            l1_max_bytes=settings.cache_l1_max_bytes,
        ),
        "gateway",
    )
    responses = ResponseCache(result_cache, settings.cache_response_ttl)

    async def rows_written(rows: list[dict]) -> None:
        await responses.jobs_added(row["owner_id"] for row in rows)

    context = Gateway(
        settings=settings,
        runtime=runtime,
        db=db,
        redis=redis,
        limiter=LeasedRateLimiter(
            GcraRateLimiter(redis, prefix=f"rl:{settings.bus_namespace}:"),
            max_lease=settings.rate_limit_max_lease,
            horizon=settings.rate_limit_lease_horizon,
        ),
        passwords=Passwords(settings.argon2_time_cost, settings.argon2_memory_cost_kib),
        tokens=Tokens(
            jwt_secret(settings),
            settings.jwt_issuer,
            settings.access_token_ttl,
            settings.refresh_token_ttl,
        ),
        analysis=AnalysisClient(
            lambda: runtime.nats,
            runtime.topology,
            settings.analysis_timeout_margin,
            Grouping(
                settings.analysis_group_max,
                settings.analysis_groups_in_flight,
                settings.analysis_group_hold,
            ),
        ),
        jobs=jobs,
        accounts=Accounts(db),
        recorder=ResultRecorder(jobs, rows_written),
        cache=result_cache,
        responses=responses,
        refresh_tokens=RefreshTokens(db, settings.refresh_token_ttl),
        policies={
            "default": Policy("default", settings.rate_limit_per_minute, settings.rate_limit_burst),
            "batch": Policy(
                "batch", settings.rate_limit_batch_per_minute, settings.rate_limit_batch_burst
            ),
            "anonymous": Policy(
                "anonymous",
                settings.rate_limit_anonymous_per_minute,
                settings.rate_limit_anonymous_burst,
            ),
        },
    )

    async def start_background() -> None:
        await context.analysis.start()
        await context.recorder.start()

    async def stop_background() -> None:
        await context.recorder.stop(settings.shutdown_timeout)
        await context.analysis.stop()

    # Up: the analysis client and recorder, then the job-status consumer; down: the reverse.
    runtime.on_startup(start_background)
    bus.register(runtime, context)
    runtime.on_stopping(stop_background)
    return http.build_api(runtime, context, runtime.tracer_provider.get_tracer("revue.gateway"))


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings)
