"""The gateway's use cases: analyse now or as a job, in batches, and what that takes.

Called by the HTTP entry points (the routes and the front-door lane for
`POST /analyze`) with the one context object, `Gateway`. A result comes from
the cache when it is there, else from the analysis service over NATS; every
synchronous answer is recorded off the response path (`recorder`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

from revue.common.contracts.events import AnalysisResult, RunAnalysis
from revue.common.contracts.keys import CacheKeyGenerator
from revue.gateway.adapters.jobs import completed_row, request_hash
from revue.gateway.context import Gateway
from revue.gateway.errors import ApiError, raise_for_failure
from revue.gateway.security import Principal
from revue.gateway.validation import CodeAnalysisRequest, JobRequest


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
    key = key_for(context, run.code, run.language, run.rules, run.max_issues)
    if key is not None:
        cached = await context.cache.get(key)
        if cached is not None:
            return completed_row(row, AnalysisResult.model_validate(cached), None)
    reply = await context.analysis.run(run)
    if reply.status != "succeeded" or reply.result is None:
        raise_for_failure(reply.error)
    if reply.analyzer is not None:
        context.analyzer = context.cache.analyzer = reply.analyzer
    if reply.cache_key is not None:
        await context.cache.set(reply.cache_key, reply.result.model_dump(mode="json"), "analysis")
    return completed_row(row, reply.result, None)


async def analyze_sync(
    context: Gateway, body: CodeAnalysisRequest, principal: Principal
) -> dict[str, Any]:
    """Answer a synchronous analysis (cache, else the analysis service) and record it."""
    run = to_run(body, principal)
    row = await analyze_now(context, run, job_row(run, "sync", body.model_dump(), None))
    row["created_at"] = run.submitted_at
    context.recorder.record(row)
    return row


async def submit_job(
    context: Gateway, body: JobRequest, principal: Principal, idempotency_key: str | None
) -> tuple[UUID, str]:
    """Queue a job (or, with ASYNC_PROCESSING_ENABLED=false, answer it at once): its id and
    status. The same Idempotency-Key with the same request returns the same job."""
    run = to_run(body, principal, body.priority.value)
    row = job_row(run, "async", body.model_dump(mode="json"), idempotency_key)
    created = await context.jobs.create(row)
    if created is None:  # this key was used before: same request -> same job
        existing = await context.jobs.by_idempotency_key(principal.user_id, idempotency_key or "")
        if existing is None or existing["request_hash"] != row["request_hash"]:
            raise ApiError(409, "Idempotency-Key already used with a different request")
        return existing["id"], existing["status"]
    if not context.settings.async_processing_enabled:
        try:
            finished = await analyze_now(context, run, row)
        except ApiError:
            await context.jobs.delete(run.job_id)
            raise
        await context.jobs.complete_from_row(finished)
        await context.responses.job_changed(run.job_id, principal.user_id)
        return run.job_id, finished["status"]
    try:
        await context.submitter().submit(
            run, f"{principal.user_id}:{idempotency_key}" if idempotency_key else None
        )
    except Exception as error:
        await context.jobs.delete(run.job_id)  # nothing queued: the client may retry the key
        raise ApiError(503, "the job queue is unavailable", headers={"Retry-After": "5"}) from error
    await context.responses.job_changed(run.job_id, principal.user_id)
    return run.job_id, "queued"
