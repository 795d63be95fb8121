"""The cache, seen from the API: its figures, and invalidation for administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from revue.common.contracts import subjects
from revue.gateway.adapters.bus_client import ask_all
from revue.gateway.entrypoints.http.principal import Admin, Context, User
from revue.gateway.errors import ErrorResponse
from revue.gateway.figures import cache_figures

router = APIRouter(prefix="/api/v1/cache", tags=["cache"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 422, 429, 503)
}
Key = Annotated[str, Field(min_length=1, max_length=512)]


class InvalidationRequest(BaseModel):
    keys: list[Key] = Field(default_factory=list, max_length=1000)
    prefixes: list[Key] = Field(default_factory=list, max_length=64)
    tags: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=64
    )


@router.get("/stats", responses=ERRORS, summary="Hit rates per tier and the savings estimate")
async def cache_stats(_: User, context: Context) -> dict[str, Any]:
    return cache_figures(await ask_all(context, subjects.CACHE_STATS, "cache"))


@router.post("/invalidate", responses=ERRORS, summary="Drop entries by key, prefix or tag (admins)")
async def invalidate(body: InvalidationRequest, _: Admin, context: Context) -> dict[str, int]:
    removed = await context.cache.invalidate(body.keys, body.prefixes, body.tags)
    return {"removed": removed}
