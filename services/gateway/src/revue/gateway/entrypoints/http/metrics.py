"""The seeds' JSON metric endpoints (batching, cache, database pool).

Prometheus `/metrics` stays the machine interface; these are for people and
dashboards that want the seeds' shapes. Batching and cache figures are
gathered from every replica that holds them (`figures`); the pool is this
gateway's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from revue.common.contracts import subjects
from revue.gateway.adapters.bus_client import ask_all
from revue.gateway.entrypoints.http.principal import Context, User
from revue.gateway.errors import ApiError, ErrorResponse
from revue.gateway.figures import batching_figures, cache_figures

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 429, 503)
}


@router.get(
    "/batching", responses=ERRORS, summary="Micro-batching figures of every analysis replica"
)
async def batching(_: User, context: Context) -> dict[str, Any]:
    return batching_figures(await ask_all(context, subjects.ANALYSIS_STATS, "analysis"))


@router.get(
    "/cache", responses=ERRORS, summary="Hit rate and savings of the result cache, every holder"
)
async def cache(_: User, context: Context) -> dict[str, Any]:
    return cache_figures(await ask_all(context, subjects.CACHE_STATS, "cache"))


@router.get("/database-pool", responses=ERRORS, summary="The gateway's connection pool")
async def database_pool(_: User, context: Context) -> dict[str, Any]:
    statistics = context.runtime.pool_statistics
    if statistics is None:
        raise ApiError(503, "no database pool")
    return statistics.stats()
