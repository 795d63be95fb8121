"""Deployments and invalidations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Queries this serves: the pending invalidations, oldest first (partial index on
requested_at where status = 'pending': the dispatcher's only read, and the
table is mostly finished rows); a request by id (primary key); deployments
by id and newest first (primary key; ids begin with their timestamp).
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
        "cdn_deployments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("changed_paths", postgresql.JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "cdn_invalidations",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("paths", postgresql.JSONB, nullable=False),
        sa.Column("patterns", postgresql.JSONB, nullable=False),
        sa.Column("surrogate_keys", postgresql.JSONB, nullable=False),
        sa.Column("everything", sa.Boolean, nullable=False),
        sa.Column("soft", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("backend", sa.String(32)),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "cdn_invalidations_pending",
        "cdn_invalidations",
        ["requested_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("cdn_invalidations")
    op.drop_table("cdn_deployments")
