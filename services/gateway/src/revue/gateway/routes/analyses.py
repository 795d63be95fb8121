"""Analyse code now, or as a job; read analyses back with ETags, fields and cursors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Query, Request, Response

from revue.common.contracts.events import AnalysisResult, RunAnalysis
from revue.common.contracts.keys import CacheKeyGenerator
from revue.gateway.analysis_client import raise_for_failure
from revue.gateway.context import Gateway
from revue.gateway.errors import ApiError, ErrorResponse, validation_success_total
from revue.gateway.job_store import completed_row, request_hash
from revue.gateway.principal import Context, Principal, User
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


def to_run(
    body: CodeAnalysisRequest, principal: Principal, priority: str = "normal"
) -> RunAnalysis:
    return RunAnalysis(
        job_id=uuid4(),
        owner_id=str(principal.user_id),
        code=body.code,
        language=body.language,
        rules=list(body.rules),
        max_issues=body.max_issues,
        timeout_s=body.timeout,
        priority=priority,
    )


def job_row(run: RunAnalysis, mode: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
    return {
        "id": run.job_id,
        "owner_id": UUID(run.owner_id),
        "mode": mode,
        "status": "queued",
        "priority": run.priority.value,
        "language": run.language,
        "idempotency_key": key,
        "request_hash": request_hash(body),
    }


def cache_key(context: Gateway, run: RunAnalysis) -> str | None:
    return key_for(context, run.code, run.language, run.rules, run.max_issues)


def key_for(
    context: Gateway, code: str, language: str, rules: Iterable[str], max_issues: int
) -> str | None:
    """The result cache key of a request, or None while it cannot be known."""
    analyzer = context.analyzer
    if analyzer is None or not context.cache.config.enabled:
        return None  # no analyzer seen yet: its version is part of the key
    return CacheKeyGenerator.generate_analysis_key(
        code,
        language,
        rules,
        max_issues=max_issues,
        provider=analyzer.provider,
        model=analyzer.model,
        analyzer_version=analyzer.version,
    )


async def analyze_now(context: Gateway, run: RunAnalysis, row: dict[str, Any]) -> dict[str, Any]:
    """The finished row (not yet stored): from the cache, else request/reply over NATS."""
    key = cache_key(context, run)
    if key is not None:
        cached = await context.cache.get(key)
        if cached is not None:
            return completed_row(row, AnalysisResult.model_validate(cached), None)
    reply = await context.analysis.run(run)
    if reply.status != "succeeded" or reply.result is None:
        raise_for_failure(reply.error)
    if reply.analyzer is not None:
        context.analyzer = reply.analyzer
    if reply.cache_key is not None:
        await context.cache.set(reply.cache_key, reply.result.model_dump(mode="json"), "analysis")
    return completed_row(row, reply.result, None)


@router.post(
    "/analyze",
    response_model=AnalysisView,
    responses=ERRORS,
    summary="Analyse code synchronously",
)
async def analyze(body: CodeAnalysisRequest, principal: User, context: Context) -> AnalysisView:
    validation_success_total.labels("/api/v1/analyze").inc()
    return AnalysisView(**view_of(await analyze_sync(context, body, principal)))


async def analyze_sync(
    context: Gateway, body: CodeAnalysisRequest, principal: Principal
) -> dict[str, Any]:
    """Answer a synchronous analysis (cache, else the analysis service) and record it."""
    run = to_run(body, principal)
    row = await analyze_now(context, run, job_row(run, "sync", body.model_dump(), None))
    row["created_at"] = run.submitted_at
    context.recorder.record(row)
    return row


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
    run = to_run(body, principal, body.priority.value)
    row = job_row(run, "async", body.model_dump(mode="json"), idempotency_key)
    created = await context.jobs.create(row)
    if created is None:  # this key was used before: same request -> same job
        existing = await context.jobs.by_idempotency_key(principal.user_id, idempotency_key or "")
        if existing is None or existing["request_hash"] != row["request_hash"]:
            raise ApiError(409, "Idempotency-Key already used with a different request")
        return accepted(response, existing["id"], existing["status"])
    if not context.settings.async_processing_enabled:
        # ASYNC_PROCESSING_ENABLED=false: answer the job at once, same API.
        try:
            finished = await analyze_now(context, run, row)
        except ApiError:
            await context.jobs.delete(run.job_id)
            raise
        await context.jobs.complete_from_row(finished)
        await context.responses.job_changed(run.job_id, principal.user_id)
        return accepted(response, run.job_id, finished["status"])
    try:
        await context.submitter().submit(
            run, f"{principal.user_id}:{idempotency_key}" if idempotency_key else None
        )
    except Exception as error:
        await context.jobs.delete(run.job_id)  # nothing queued: the client may retry the key
        raise ApiError(503, "the job queue is unavailable", headers={"Retry-After": "5"}) from error
    await context.responses.job_changed(run.job_id, principal.user_id)
    return accepted(response, run.job_id, "queued")


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
