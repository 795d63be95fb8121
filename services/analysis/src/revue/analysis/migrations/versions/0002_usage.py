"""What each analysis cost: provider calls, tokens, dollars, and the model that answered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Queries this serves: one owner's usage by day over a period (`analysis.usage`,
the gateway's `GET /api/v1/usage`): analysis_sessions_owner_completed, on
(owner_id, completed_at), only the rows that called a model (the partial
predicate), which the usage query repeats.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("analysis_sessions", sa.Column("model", sa.String(200)))
    op.add_column(
        "analysis_sessions",
        sa.Column("provider_calls", sa.Float, nullable=False, server_default="0"),
    )
    for column in ("prompt_tokens", "completion_tokens", "cached_prompt_tokens"):
        op.add_column(
            "analysis_sessions",
            sa.Column(column, sa.BigInteger, nullable=False, server_default="0"),
        )
    op.add_column("analysis_sessions", sa.Column("cost_usd", sa.Float))
    op.create_index(
        "analysis_sessions_owner_completed",
        "analysis_sessions",
        ["owner_id", "completed_at"],
        postgresql_where=sa.text("provider_calls > 0"),
    )


def downgrade() -> None:
    op.drop_index("analysis_sessions_owner_completed", table_name="analysis_sessions")
    for column in (
        "cost_usd",
        "cached_prompt_tokens",
        "completion_tokens",
        "prompt_tokens",
        "provider_calls",
        "model",
    ):
        op.drop_column("analysis_sessions", column)
