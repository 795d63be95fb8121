"""Composition root of the gateway: settings -> runtime -> context -> routes -> app."""

from __future__ import annotations

import secrets

import structlog
from fastapi.middleware import Middleware
from fastapi.middleware.cors import CORSMiddleware
from starlette_compress import CompressMiddleware

from revue.common.cache import CacheConfig
from revue.common.cache.config import namespace_for
from revue.common.cache.fanout import shared_cache
from revue.common.service import ServiceApp, ServiceRuntime, serve
from revue.gateway.analysis_client import AnalysisClient
from revue.gateway.context import Gateway
from revue.gateway.errors import ErrorResponse, install_error_handlers
from revue.gateway.hot_path import AnalyzeLane
from revue.gateway.job_status import JobStatusConsumer
from revue.gateway.job_store import JobStore
from revue.gateway.middleware import BodySizeLimit, ResponseHeaders
from revue.gateway.rate_leases import LeasedRateLimiter
from revue.gateway.ratelimit import Policy, RateLimiter
from revue.gateway.recorder import ResultRecorder
from revue.gateway.refresh_tokens import RefreshTokens
from revue.gateway.request_groups import Grouping
from revue.gateway.response_cache import ResponseCache
from revue.gateway.routes import analyses, auth, batch, cache, cdn, operations, query_optimizer
from revue.gateway.security import Passwords, Tokens
from revue.gateway.settings import GatewaySettings

log = structlog.get_logger("revue.gateway")

DESCRIPTION = """
The public API of Revue. Register, get a token (or an API key), then analyse
code synchronously (`POST /api/v1/analyze`) or as a job (`POST /api/v1/analyses`).

Every error has one shape: `{"detail", "code", "errors"}`; a 422 lists each
invalid field. Limited responses carry `RateLimit-Policy` and `RateLimit` headers.
"""


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
            RateLimiter(redis, prefix=f"rl:{settings.bus_namespace}:"),
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
    status = JobStatusConsumer(
        lambda: runtime.nats, runtime.topology, jobs, settings.job_status_consumer, responses
    )

    async def start_background() -> None:
        await context.analysis.start()
        await context.recorder.start()
        await status.start()

    async def stop_background() -> None:
        await status.stop()
        await context.recorder.stop(settings.shutdown_timeout)
        await context.analysis.stop()

    runtime.on_startup(start_background)
    runtime.on_stopping(stop_background)
    app = runtime.build_app(
        title="Revue",
        description=DESCRIPTION,
        routers=[
            auth.router,
            analyses.router,
            batch.router,
            operations.router,
            cache.router,
            cdn.router,
            query_optimizer.router,
        ],
        middleware=gateway_middleware(settings),
        # What any operation may answer before its own code runs: a body that is not
        # UTF-8 JSON (400), one over the size limit (413), a refused field (422).
        responses={
            code: {"model": ErrorResponse, "description": description}
            for code, description in (
                (400, "The body could not be read (not UTF-8, or a bad Content-Length)"),
                (413, "The body is larger than MAX_BODY_BYTES"),
                (422, "A field was refused; `errors` names each"),
            )
        },
    )
    # POST /analyze from bearer-token clients is answered before FastAPI's request machinery.
    app.front_door = AnalyzeLane(
        app.handle, context, app.http_metrics, runtime.tracer_provider.get_tracer("revue.gateway")
    )
    app.state.gateway = context
    app.state.job_status = status
    install_error_handlers(app)
    return app


def gateway_middleware(settings: GatewaySettings) -> list[Middleware]:
    """Outermost first: limits and headers apply to every answer FastAPI gives."""
    cors = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-API-Key",
                "X-Request-ID",
                "If-None-Match",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "RateLimit",
                "RateLimit-Policy",
                "Retry-After",
                "X-Request-ID",
            ],
        )
    ]
    return [
        Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
        Middleware(ResponseHeaders),
        *(cors if settings.cors_origins else []),
        Middleware(CompressMiddleware, minimum_size=settings.compression_minimum_size),
    ]


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings)
