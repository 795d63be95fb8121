"""Batch endpoints (seed 002): many operations, one request, per-item outcomes.

Always 200 when the request itself is valid: each item says its own status
and HTTP-like status code, so one bad item never sinks the others.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from revue.gateway.entrypoints.http.principal import BatchUser, Context, Principal
from revue.gateway.errors import ApiError, ErrorResponse, FieldError, validation_success_total
from revue.gateway.services import analyze_now, job_row, to_run
from revue.gateway.validation import BatchAnalysisRequest, BatchGetRequest, BatchItem, parse_uuid
from revue.gateway.views import parse_fields, select_fields, view_of

router = APIRouter(prefix="/api/v1/batch", tags=["batch"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 413, 422, 429)
}


class BatchOperationResult(BaseModel):
    id: str
    status: Literal["success", "error"]
    status_code: int
    data: dict[str, Any] | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchOperationResult]
    total_requested: int
    total_succeeded: int
    total_failed: int
    processed_at: datetime


def within_limit(field: str, value: int, limit: int, setting: str) -> None:
    """This deployment's limit, which may be below the API's contract; 422 naming the setting."""
    if value > limit:
        message = f"{value} is over this deployment's limit of {limit} ({setting})"
        raise ApiError(
            422,
            "Validation failed",
            errors=[FieldError(field=field, message=message, type="limit")],
        )


def summarize(results: list[BatchOperationResult]) -> BatchResponse:
    succeeded = sum(result.status == "success" for result in results)
    return BatchResponse(
        results=results,
        total_requested=len(results),
        total_succeeded=succeeded,
        total_failed=len(results) - succeeded,
        processed_at=datetime.now(UTC),
    )


@router.post(
    "/analyze", response_model=BatchResponse, responses=ERRORS, summary="Analyse 1-50 items"
)
async def batch_analyze(
    body: BatchAnalysisRequest, principal: BatchUser, context: Context
) -> BatchResponse:
    settings = context.settings
    total = sum(len(item.code.encode()) for item in body.requests)
    within_limit("requests", len(body.requests), settings.batch_max_items, "BATCH_MAX_ITEMS")
    within_limit("requests", total, settings.batch_max_code_bytes, "BATCH_MAX_CODE_BYTES")
    validation_success_total.labels("/api/v1/batch/analyze").inc()

    async def one(index: int, item: BatchItem) -> BatchOperationResult:
        item_id = item.id or str(index)
        run = to_run(item, principal)
        try:
            row = await analyze_now(context, run, job_row(run, "sync", item.model_dump(), None))
        except ApiError as error:
            return BatchOperationResult(
                id=item_id, status="error", status_code=error.status, error=error.detail
            )
        row["created_at"] = run.submitted_at
        context.recorder.record(row)
        return BatchOperationResult(
            id=item_id, status="success", status_code=200, data=view_of(row)
        )

    if body.parallel:
        results = await asyncio.gather(*(one(i, item) for i, item in enumerate(body.requests)))
    else:
        results = [await one(i, item) for i, item in enumerate(body.requests)]
    return summarize(list(results))


@router.post("/get", response_model=BatchResponse, responses=ERRORS, summary="Fetch 1-100 analyses")
async def batch_get(body: BatchGetRequest, principal: BatchUser, context: Context) -> BatchResponse:
    within_limit("ids", len(body.ids), context.settings.batch_get_max_ids, "BATCH_GET_MAX_IDS")
    validation_success_total.labels("/api/v1/batch/get").inc()
    fields = parse_fields(body.fields)
    wanted = {raw: parse_uuid(raw) for raw in body.ids}
    found = await context.jobs.get_many(
        principal.user_id, [uuid for uuid in wanted.values() if uuid is not None]
    )
    return summarize(
        [result_for(raw, uuid, found, fields, principal) for raw, uuid in wanted.items()]
    )


def result_for(
    raw: str, uuid: Any, found: dict, fields: list[str] | None, principal: Principal
) -> BatchOperationResult:
    if uuid is None:
        return BatchOperationResult(id=raw, status="error", status_code=400, error="not a valid id")
    if uuid not in found:
        # Another user's analysis is reported exactly like a missing one.
        return BatchOperationResult(id=raw, status="error", status_code=404, error="not found")
    data = select_fields(view_of(found[uuid]), fields)
    return BatchOperationResult(id=raw, status="success", status_code=200, data=data)
