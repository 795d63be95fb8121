"""Analysis sessions and findings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Queries this serves: record a session by job id (primary key, ON CONFLICT),
read one session and its findings by job id (primary keys; findings'
primary key starts with job_id, so no further index is needed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analysis_sessions",
        sa.Column("job_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("owner_id", sa.String(200)),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("rules", postgresql.ARRAY(sa.String(64)), nullable=False, server_default="{}"),
        sa.Column("max_issues", sa.Integer, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("analyzer", sa.String(64)),
        sa.Column("analyzer_version", sa.String(200)),
        sa.Column("cache_key", sa.String(200)),
        sa.Column("findings_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("error", postgresql.JSONB),
        sa.Column("duration_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "completed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "findings",
        sa.Column(
            "job_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("analysis_sessions.job_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ordinal", sa.Integer, primary_key=True),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("col", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("fix_hint", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("analysis_sessions")
