"""The seeds' JSON metric endpoints (batching, cache, database pool).

Prometheus `/metrics` stays the machine interface; these are for people and
dashboards that want the seeds' shapes. Batching and cache figures come from
their services over the bus; the pool is the gateway's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from revue.common.contracts import subjects
from revue.gateway.adapters.bus_client import ask
from revue.gateway.entrypoints.http.principal import Context, User
from revue.gateway.errors import ApiError, ErrorResponse

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 429, 503)
}


@router.get("/batching", responses=ERRORS, summary="Micro-batching figures of the analysis service")
async def batching(_: User, context: Context) -> dict[str, Any]:
    stats = await ask(context, subjects.ANALYSIS_STATS, "analysis")
    return {**stats["batching"], "queue": stats.get("queue"), "breaker": stats.get("breaker")}


@router.get("/cache", responses=ERRORS, summary="Hit rates and savings of the result cache")
async def cache(_: User, context: Context) -> dict[str, Any]:
    return await ask(context, subjects.CACHE_STATS, "cache")


@router.get("/database-pool", responses=ERRORS, summary="The gateway's connection pool")
async def database_pool(_: User, context: Context) -> dict[str, Any]:
    statistics = context.runtime.pool_statistics
    if statistics is None:
        raise ApiError(503, "no database pool")
    return statistics.stats()
