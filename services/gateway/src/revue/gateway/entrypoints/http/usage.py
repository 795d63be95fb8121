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
DEFAULT_DAYS = 30
# A calendar day and only that: `0` or `20261207` are refused, as the schema says.
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def after(day: date) -> datetime:
    """The start of the day after `day` (for the last day there is, the end of time)."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return day_start(day + timedelta(days=1))


def calendar_day(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:  # 2026-02-30: the right shape, no such day
        raise ApiError(
            422,
            "Validation failed",
            errors=[FieldError(field=field, message=str(error), type="date")],
        ) from error


def day_query(name: str, description: str) -> Any:
    return Query(
        alias=name,
        description=description,
        pattern=DAY_PATTERN,
        json_schema_extra={"format": "date"},
    )


@router.get("/usage", responses=ERRORS, summary="Your provider calls, tokens and cost by day")
async def usage(
    principal: User,
    context: Context,
    # `str` defaulting to None: the schema says "a date", never "null" (absent: the default).
    since: Annotated[str, day_query("from", "First day (UTC), default 30 days before")] = None,  # noqa: RUF013
    until: Annotated[str, day_query("to", "Last day (UTC), default today")] = None,  # noqa: RUF013
    user: Annotated[
        str | None, Query(max_length=254, description="Administrators: another user's email")
    ] = None,
) -> dict[str, Any]:
    # One row per day that had activity: the answer's size is bounded by the data,
    # whatever the range; a range that ends before it starts is simply empty.
    last = calendar_day("to", until) if until else datetime.now(UTC).date()
    if since:
        first = calendar_day("from", since)
    else:
        first = max(date.min, last - timedelta(days=DEFAULT_DAYS - 1))
    owner = principal.user_id
    if user is not None:
        if not await context.accounts.is_admin(principal.user_id):
            raise ApiError(403, "administrators only may ask for another user's usage")
        account = await context.accounts.by_email(user)
        if account is None:
            raise ApiError(404, "no such user")
        owner = account.id
    request = GetUsage(owner_id=str(owner), since=day_start(first), until=after(last))
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
