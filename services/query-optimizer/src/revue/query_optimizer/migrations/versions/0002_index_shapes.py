"""Recommendations of covering and partial indexes, and what verification measured.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

An index is now its key columns, the columns it carries (`include`) and its
predicate (`predicate`, empty: every row): the three make a recommendation's
identity, so the unique key grows to them. `measured_improvement_pct` is what
execution showed when the choice was verified (NULL: estimated only).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "qo_recommendations",
        sa.Column("include", ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    op.add_column(
        "qo_recommendations",
        sa.Column("predicate", sa.Text, nullable=False, server_default=""),
    )
    op.add_column("qo_recommendations", sa.Column("measured_improvement_pct", sa.Float))
    op.drop_constraint("qo_recommendations_table_name_columns_key", "qo_recommendations")
    op.create_unique_constraint(
        "qo_recommendations_identity",
        "qo_recommendations",
        ["table_name", "columns", "include", "predicate"],
    )


def downgrade() -> None:
    op.execute("DELETE FROM qo_recommendations WHERE include <> '{}' OR predicate <> ''")
    op.drop_constraint("qo_recommendations_identity", "qo_recommendations")
    op.create_unique_constraint(
        "qo_recommendations_table_name_columns_key", "qo_recommendations", ["table_name", "columns"]
    )
    for column in ("measured_improvement_pct", "predicate", "include"):
        op.drop_column("qo_recommendations", column)
