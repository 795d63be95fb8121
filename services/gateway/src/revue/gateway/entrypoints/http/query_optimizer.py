"""The query-optimizer's report and index advice, for administrators.

The report holds the suite's own SQL and plans: an operator's view, so
administrators only. The gateway asks the optimizer over the bus.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from revue.common.contracts import subjects
from revue.common.contracts.events import GetQueryReport
from revue.gateway.adapters.bus_client import ask_raw
from revue.gateway.entrypoints.http.principal import Admin, Context
from revue.gateway.errors import ErrorResponse

router = APIRouter(prefix="/api/v1/query-optimizer", tags=["query-optimizer"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 422, 429, 503)
}
Limit = Annotated[int, Query(ge=1, le=100, description="Entries per list")]


async def ask_optimizer(context: Context, subject: str, limit: int) -> dict[str, Any]:
    payload = GetQueryReport(limit=limit).model_dump_json().encode()
    return orjson.loads(await ask_raw(context, subject, "query-optimizer", payload, timeout=10))


@router.get(
    "/report",
    responses=ERRORS,
    summary="Query-cache figures, query figures, slowest statements with plans, index advice",
)
async def report(_: Admin, context: Context, limit: Limit = 10) -> dict[str, Any]:
    return await ask_optimizer(context, subjects.QUERY_REPORT, limit)


@router.get("/recommendations", responses=ERRORS, summary="Current index recommendations")
async def recommendations(_: Admin, context: Context, limit: Limit = 20) -> dict[str, Any]:
    return await ask_optimizer(context, subjects.QUERY_RECOMMENDATIONS, limit)
