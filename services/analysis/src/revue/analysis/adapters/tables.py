"""The analysis service's tables (created by its migrations, `migrations/versions/`).

- analysis_sessions: one row per analysis (synchronous or job), its outcome and what it
  cost (provider calls, tokens, dollars: zero when the answer came from the cache);
- findings: what each analysis found, in order.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

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
    # What computing it cost: nothing when it came from the cache (migration 0002)
    Column("model", String(200)),
    Column("provider_calls", Float, nullable=False, server_default="0"),
    Column("prompt_tokens", BigInteger, nullable=False, server_default="0"),
    Column("completion_tokens", BigInteger, nullable=False, server_default="0"),
    Column("cached_prompt_tokens", BigInteger, nullable=False, server_default="0"),
    Column("cost_usd", Float),
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
