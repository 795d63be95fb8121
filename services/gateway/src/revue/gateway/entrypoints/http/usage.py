"""What a caller's analyses cost: provider calls, tokens and dollars, by day.

Answered from the analysis service's own record (`analysis.usage`): only
analyses that called a model count; one answered from a cache costs
nothing. A day's cost is null when a model without a price (LLM_PRICES)
answered that day. Administrators may ask for another user (`?user=` an
email).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from revue.common.contracts import subjects
from revue.common.contracts.events import GetUsage
from revue.gateway.adapters.bus_client import ask_raw
from revue.gateway.entrypoints.http.principal import Context, User
from revue.gateway.errors import ApiError, ErrorResponse, FieldError

router = APIRouter(prefix="/api/v1", tags=["usage"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 404, 422, 429, 503)
}
MAX_DAYS = 366


@router.get("/usage", responses=ERRORS, summary="Your provider calls, tokens and cost by day")
async def usage(
    principal: User,
    context: Context,
    since: Annotated[
        date | None, Query(alias="from", description="First day (UTC), default 30 days ago")
    ] = None,
    until: Annotated[
        date | None, Query(alias="to", description="Last day (UTC), default today")
    ] = None,
    user: Annotated[
        str | None, Query(max_length=254, description="Administrators: another user's email")
    ] = None,
) -> dict[str, Any]:
    last = until or datetime.now(UTC).date()
    first = since or last - timedelta(days=29)
    if first > last or (last - first).days >= MAX_DAYS:
        raise ApiError(
            422,
            "Validation failed",
            errors=[
                FieldError(field="from", message=f"from..to is 1 to {MAX_DAYS} days", type="range")
            ],
        )
    owner = principal.user_id
    if user is not None:
        if not await context.accounts.is_admin(principal.user_id):
            raise ApiError(403, "administrators only may ask for another user's usage")
        account = await context.accounts.by_email(user)
        if account is None:
            raise ApiError(404, "no such user")
        owner = account.id
    request = GetUsage(
        owner_id=str(owner),
        since=datetime.combine(first, time.min, UTC),
        until=datetime.combine(last + timedelta(days=1), time.min, UTC),
    )
    reply = await ask_raw(
        context, subjects.ANALYSIS_USAGE, "analysis", request.model_dump_json().encode(), timeout=10
    )
    days = orjson.loads(reply)["days"]
    costs = [day["cost_usd"] for day in days]
    return {
        "user_id": str(owner),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": days,
        "total": {
            "analyses": sum(day["analyses"] for day in days),
            "calls": round(sum(day["calls"] for day in days), 3),
            "prompt_tokens": sum(day["prompt_tokens"] for day in days),
            "completion_tokens": sum(day["completion_tokens"] for day in days),
            "cached_prompt_tokens": sum(day["cached_prompt_tokens"] for day in days),
            "cost_usd": None if None in costs else round(sum(costs), 6),
        },
    }
