"""Analysis sessions and their findings in PostgreSQL.

Writes are group-committed (`record_many`) and idempotent on the job id: the
first completion of a job is recorded, a redelivered duplicate changes
nothing, so a worker that dies between writing and acknowledging cannot
produce a second result.

The repository of `tables.analysis_sessions` and `tables.findings`. Its two
statements are text on purpose (the suite's one data-access style is Core
over `tables`): each group commit's rows travel as one JSON parameter, which
Core cannot say, and which is the fastest way found to write them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.analysis.adapters.tables import analysis_sessions
from revue.common.contracts.events import (
    AnalysisResult,
    ErrorInfo,
    Finding,
    RunAnalysis,
    Usage,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    request: RunAnalysis
    result: AnalysisResult | None
    error: ErrorInfo | None
    cache_key: str | None
    duration_ms: float
    # What this request made a provider spend (None: answered from the cache, or no model)
    spent: Usage | None = None
    # When the answer was had: the event says so, so a write of it that comes after an
    # invalidation of its key is known to be older (the cache's watermarks).
    completed_at: datetime = field(default_factory=utcnow)


# Each group commit's rows travel as one JSON parameter that PostgreSQL turns
# into records (jsonb_populate_recordset): the statement text never changes,
# so it is prepared once and its shape parsed once, and the rows are encoded
# by orjson in C rather than bound value by value (which was most of the
# analysis service's recording cost; bench_bus_overhead).
INSERT_SESSIONS = text(
    """
    INSERT INTO analysis_sessions (
        job_id, owner_id, language, rules, max_issues, priority, status, analyzer,
        analyzer_version, cache_key, findings_count, truncated, error, duration_ms,
        submitted_at, completed_at, model, provider_calls, prompt_tokens, completion_tokens,
        cached_prompt_tokens, cost_usd
    )
    SELECT
        job_id, owner_id, language, rules, max_issues, priority, status, analyzer,
        analyzer_version, cache_key, findings_count, truncated, error, duration_ms,
        submitted_at, now(), model, provider_calls, prompt_tokens, completion_tokens,
        cached_prompt_tokens, cost_usd
    FROM jsonb_populate_recordset(NULL::analysis_sessions, CAST(:rows AS jsonb))
    ON CONFLICT (job_id) DO NOTHING
    RETURNING job_id
    """
).columns(job_id=PgUUID(as_uuid=True))
INSERT_FINDINGS = text(
    """
    INSERT INTO findings (job_id, ordinal, rule_id, severity, line, col, message, fix_hint)
    SELECT job_id, ordinal, rule_id, severity, line, col, message, fix_hint
    FROM jsonb_populate_recordset(NULL::findings, CAST(:rows AS jsonb))
    """
)


class AnalysisStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def usage_by_day(
        self, owner_id: str, since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        """One owner's provider calls, tokens and cost per UTC day, in [since, until).

        Only rows that called a model count (cache answers cost nothing); the
        cost of a day is unknown (None) when any of its rows had no price.
        """
        day = func.date_trunc("day", func.timezone("UTC", analysis_sessions.c.completed_at))
        statement = (
            select(
                day.label("day"),
                func.count().label("analyses"),
                func.sum(analysis_sessions.c.provider_calls).label("calls"),
                func.sum(analysis_sessions.c.prompt_tokens).label("prompt_tokens"),
                func.sum(analysis_sessions.c.completion_tokens).label("completion_tokens"),
                func.sum(analysis_sessions.c.cached_prompt_tokens).label("cached_prompt_tokens"),
                func.sum(analysis_sessions.c.cost_usd).label("cost_usd"),
                func.count(analysis_sessions.c.cost_usd).label("priced"),
            )
            .where(
                analysis_sessions.c.owner_id == owner_id,
                analysis_sessions.c.completed_at >= since,
                analysis_sessions.c.completed_at < until,
                analysis_sessions.c.provider_calls > literal_column("0"),  # the index predicate
            )
            .group_by(day)
            .order_by(day)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [
            {
                "day": row["day"].date().isoformat(),
                "analyses": row["analyses"],
                "calls": round(float(row["calls"]), 3),
                "prompt_tokens": int(row["prompt_tokens"]),
                "completion_tokens": int(row["completion_tokens"]),
                "cached_prompt_tokens": int(row["cached_prompt_tokens"]),
                "cost_usd": round(row["cost_usd"], 6) if row["priced"] == row["analyses"] else None,
            }
            for row in rows
        ]

    async def record_many(self, outcomes: list[Outcome]) -> list[bool]:
        """Store several outcomes in one transaction (group commit).

        Returns, per outcome, whether it was recorded now (False: a duplicate).
        """
        rows = {o.request.job_id: _session_row(o) for o in outcomes}
        async with self.engine.begin() as connection:
            result = await connection.execute(INSERT_SESSIONS, {"rows": _json(rows.values())})
            inserted = set(result.scalars().all())
            finding_rows = [
                _finding_row(o.request.job_id, i, f)
                for o in outcomes
                if o.result and o.request.job_id in inserted
                for i, f in enumerate(o.result.findings)
            ]
            if finding_rows:
                await connection.execute(INSERT_FINDINGS, {"rows": _json(finding_rows)})
        seen: set[UUID] = set()
        answers = []
        for outcome in outcomes:
            job_id = outcome.request.job_id
            answers.append(job_id in inserted and job_id not in seen)
            seen.add(job_id)
        return answers


def _json(rows: Iterable[dict[str, Any]]) -> str:
    return orjson.dumps(list(rows)).decode()


def _session_row(outcome: Outcome) -> dict[str, Any]:
    request, result, error = outcome.request, outcome.result, outcome.error
    return {
        "job_id": request.job_id,
        "owner_id": request.owner_id,
        "language": request.language,
        "rules": list(request.rules),
        "max_issues": request.max_issues,
        "priority": request.priority.value,
        "status": "succeeded" if result is not None else "failed",
        "analyzer": result.analyzer if result else None,
        "analyzer_version": result.analyzer_version if result else None,
        "cache_key": outcome.cache_key,
        "findings_count": len(result.findings) if result else 0,
        "truncated": result.truncated if result else False,
        "error": error.model_dump() if error else None,
        "duration_ms": outcome.duration_ms,
        "submitted_at": request.submitted_at,
        **_spent_columns(outcome.spent),
    }


def _spent_columns(spent: Usage | None) -> dict[str, Any]:
    if spent is None:
        return {"model": None, "provider_calls": 0.0, "prompt_tokens": 0, "completion_tokens": 0,
                "cached_prompt_tokens": 0, "cost_usd": None}  # fmt: skip
    return {
        "model": spent.model,
        "provider_calls": spent.calls,
        "prompt_tokens": spent.prompt_tokens,
        "completion_tokens": spent.completion_tokens,
        "cached_prompt_tokens": spent.cached_prompt_tokens,
        "cost_usd": spent.cost_usd,
    }


def _finding_row(job_id: UUID, ordinal: int, finding: Finding) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "ordinal": ordinal,
        "rule_id": finding.rule_id,
        "severity": finding.severity,
        "line": finding.line,
        "col": finding.column,
        "message": finding.message,
        "fix_hint": finding.fix_hint,
    }
