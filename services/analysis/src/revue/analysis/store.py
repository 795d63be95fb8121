"""Analysis sessions and their findings in PostgreSQL.

Writes are group-committed (`record_many`) and idempotent on the job id: the
first completion of a job is recorded, a redelivered duplicate changes
nothing, so a worker that dies between writing and acknowledging cannot
produce a second result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.events import AnalysisResult, ErrorInfo, Finding, RunAnalysis

metadata = MetaData()

analysis_sessions = Table(
    "analysis_sessions",
    metadata,
    Column("job_id", PgUUID(as_uuid=True), primary_key=True),
    Column("owner_id", String(200)),
    Column("language", String(32), nullable=False),
    Column("rules", ARRAY(String(64)), nullable=False, server_default="{}"),
    Column("max_issues", Integer, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("analyzer", String(64)),
    Column("analyzer_version", String(200)),
    Column("cache_key", String(200)),
    Column("findings_count", Integer, nullable=False, server_default="0"),
    Column("truncated", Boolean, nullable=False, server_default="false"),
    Column("error", JSONB),
    Column("duration_ms", Float, nullable=False, server_default="0"),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

findings = Table(
    "findings",
    metadata,
    Column(
        "job_id",
        PgUUID(as_uuid=True),
        ForeignKey("analysis_sessions.job_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ordinal", Integer, primary_key=True),
    Column("rule_id", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("line", Integer, nullable=False),
    Column("col", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("fix_hint", Text),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    request: RunAnalysis
    result: AnalysisResult | None
    error: ErrorInfo | None
    cache_key: str | None
    duration_ms: float


# One statement for any number of rows: executemany lets SQLAlchemy compile it
# once and batch the rows ("insertmanyvalues"); a multi-row VALUES clause would be
# compiled anew for every group commit.
INSERT_SESSIONS = (
    insert(analysis_sessions)
    .on_conflict_do_nothing(index_elements=["job_id"])
    .returning(analysis_sessions.c.job_id)
)


class AnalysisStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record_many(self, outcomes: list[Outcome]) -> list[bool]:
        """Store several outcomes in one transaction (group commit).

        Returns, per outcome, whether it was recorded now (False: a duplicate).
        """
        rows = {o.request.job_id: _session_row(o) for o in outcomes}
        async with self.engine.begin() as connection:
            inserted = set(
                (await connection.execute(INSERT_SESSIONS, list(rows.values()))).scalars().all()
            )
            finding_rows = [
                _finding_row(o.request.job_id, i, f)
                for o in outcomes
                if o.result and o.request.job_id in inserted
                for i, f in enumerate(o.result.findings)
            ]
            if finding_rows:
                await connection.execute(insert(findings), finding_rows)
        seen: set[UUID] = set()
        answers = []
        for outcome in outcomes:
            job_id = outcome.request.job_id
            answers.append(job_id in inserted and job_id not in seen)
            seen.add(job_id)
        return answers


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
        "completed_at": datetime.now(UTC),
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
