"""Analyse code now, or as a job; read analyses back with ETags, fields and cursors."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from revue.gateway import services
from revue.gateway.entrypoints.http.principal import Context, User
from revue.gateway.errors import ApiError, ErrorResponse, validation_success_total
from revue.gateway.response_cache import job_tag, owner_tag
from revue.gateway.validation import FIELD_LIST, CodeAnalysisRequest, JobRequest
from revue.gateway.views import (
    CURSOR,
    AnalysisPage,
    AnalysisView,
    JobAccepted,
    SelectedFields,
    decode_cursor,
    encode_cursor,
    none_match,
    parse_fields,
    render,
    select_fields,
    strong_etag,
    view_of,
)

router = APIRouter(prefix="/api/v1", tags=["analyses"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 502, 503, 504)
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[A-Za-z0-9._:\-]+$",
        description="Retrying with the same key returns the same job",
    ),
]
Fields = Annotated[
    str | None,
    Query(
        max_length=500,
        pattern=FIELD_LIST,
        description="Comma-separated fields, dotted paths allowed: id,status,result.findings",
    ),
]


@router.post(
    "/analyze",
    response_model=AnalysisView,
    responses=ERRORS,
    summary="Analyse code synchronously",
)
async def analyze(body: CodeAnalysisRequest, principal: User, context: Context) -> AnalysisView:
    validation_success_total.labels("/api/v1/analyze").inc()
    return AnalysisView(**view_of(await services.analyze_sync(context, body, principal)))


@router.post(
    "/analyses",
    status_code=202,
    response_model=JobAccepted,
    responses={**ERRORS, 409: {"model": ErrorResponse}},
    summary="Submit an asynchronous analysis job",
)
async def submit_job(
    body: JobRequest,
    principal: User,
    context: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    validation_success_total.labels("/api/v1/analyses").inc()
    job_id, status = await services.submit_job(context, body, principal, idempotency_key)
    return accepted(response, job_id, status)


def accepted(response: Response, job_id: UUID, status: str) -> JobAccepted:
    location = f"/api/v1/analyses/{job_id}"
    response.headers["Location"] = location
    return JobAccepted(id=job_id, status=status, location=location)


@router.get(
    "/analyses/{analysis_id}",
    response_model=AnalysisView | SelectedFields,
    responses={**ERRORS, 304: {"description": "Not modified"}, 404: {"model": ErrorResponse}},
    summary="One analysis, with ETag and field selection",
)
async def get_analysis(
    analysis_id: UUID, request: Request, principal: User, context: Context, fields: Fields = None
) -> Response:
    selected = parse_fields(fields)

    async def fresh() -> bytes:
        rows = await context.jobs.get_many(principal.user_id, [analysis_id])
        if analysis_id not in rows:
            raise ApiError(404, "no such analysis")  # raised, so never cached
        return render(select_fields(view_of(rows[analysis_id]), selected))

    scope = f"{analysis_id}:{principal.user_id}"
    body = await context.responses.cached(
        "analysis", scope, [fields or ""], fresh, tags=[job_tag(analysis_id)]
    )
    etag = strong_etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization, X-API-Key",
    }
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/analyses",
    response_model=AnalysisPage,
    responses=ERRORS,
    summary="Your analyses, newest first (cursor pagination)",
)
async def list_analyses(
    principal: User,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR, description="next_cursor of the previous page")
    ] = None,
    fields: Fields = None,
) -> Response:
    selected = parse_fields(fields)
    after = decode_cursor(cursor) if cursor else None

    async def fresh() -> bytes:
        rows = await context.jobs.page(principal.user_id, limit + 1, after)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
        items = [select_fields(view_of(row), selected) for row in page]
        return render({"items": items, "next_cursor": next_cursor})

    parts = [str(limit), cursor or "", fields or ""]
    body = await context.responses.cached(
        "analyses", str(principal.user_id), parts, fresh, tags=[owner_tag(principal.user_id)]
    )
    return Response(body, media_type="application/json")
