"""The gateway's HTTP API: its routers, middleware and error answers, assembled once.

One module per resource (auth, analyses, batch, metrics, cache, cdn,
query-optimizer); `lane` is the front door that answers `POST /analyze` for
bearer-token clients before FastAPI's machinery; `principal` the
authentication and rate-limit dependencies; `middleware` the limits and
headers every answer gets.
"""

from __future__ import annotations

from fastapi.middleware import Middleware
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.trace import Tracer
from starlette_compress import CompressMiddleware

from revue.common.service import ServiceApp, ServiceRuntime
from revue.gateway.context import Gateway
from revue.gateway.entrypoints.http import (
    analyses,
    auth,
    batch,
    cache,
    cdn,
    metrics,
    query_optimizer,
    usage,
)
from revue.gateway.entrypoints.http.lane import AnalyzeLane
from revue.gateway.entrypoints.http.middleware import BodySizeLimit, ResponseHeaders
from revue.gateway.errors import ErrorResponse, install_error_handlers
from revue.gateway.settings import GatewaySettings

ROUTERS = (
    auth.router,
    analyses.router,
    batch.router,
    metrics.router,
    cache.router,
    cdn.router,
    query_optimizer.router,
    usage.router,
)
DESCRIPTION = """
The public API of Revue. Register, get a token (or an API key), then analyse
code synchronously (`POST /api/v1/analyze`) or as a job (`POST /api/v1/analyses`).

Every error has one shape: `{"detail", "code", "errors"}`; a 422 lists each
invalid field. Limited responses carry `RateLimit-Policy` and `RateLimit` headers.
"""
# What any operation may answer before its own code runs: a body that is not
# UTF-8 JSON (400), one over the size limit (413), a refused field (422).
COMMON_ANSWERS = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in (
        (400, "The body could not be read (not UTF-8, or a bad Content-Length)"),
        (413, "The body is larger than MAX_BODY_BYTES"),
        (422, "A field was refused; `errors` names each"),
    )
}


def build_api(runtime: ServiceRuntime, context: Gateway, tracer: Tracer) -> ServiceApp:
    app = runtime.build_app(
        title="Revue",
        description=DESCRIPTION,
        routers=ROUTERS,
        middleware=gateway_middleware(context.settings),
        responses=COMMON_ANSWERS,
    )
    # POST /analyze from bearer-token clients is answered before FastAPI's request machinery.
    app.front_door = AnalyzeLane(app.handle, context, app.http_metrics, tracer)
    app.state.gateway = context
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
