"""Query statistics, the slow-query log and index recommendations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Queries this serves: the upsert of one fingerprint's figures (primary key);
the workload for advice and the report's top queries, by total time
(qo_query_stats_total); the slowest statements (qo_slow_queries_duration)
and trimming the log to its newest rows (qo_slow_queries_executed);
recommendations by (table, columns) (unique) and the active ones by
improvement (qo_recommendations_active).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE qo_query_stats (
            fingerprint text PRIMARY KEY,
            normalized text NOT NULL,
            example text NOT NULL,
            services text[] NOT NULL,
            tables text[] NOT NULL,
            calls float8 NOT NULL,
            total_ms float8 NOT NULL,
            max_ms float8 NOT NULL,
            rows float8 NOT NULL,
            histogram float8[] NOT NULL,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX qo_query_stats_total ON qo_query_stats (total_ms DESC)")
    op.execute(
        """
        CREATE TABLE qo_slow_queries (
            id bigserial PRIMARY KEY,
            fingerprint text NOT NULL,
            service text NOT NULL,
            duration_ms float8 NOT NULL,
            statement text NOT NULL,
            plan jsonb,
            plan_error text,
            executed_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX qo_slow_queries_duration ON qo_slow_queries (duration_ms DESC)")
    op.execute("CREATE INDEX qo_slow_queries_executed ON qo_slow_queries (executed_at)")
    op.execute(
        """
        CREATE TABLE qo_recommendations (
            id bigserial PRIMARY KEY,
            table_name text NOT NULL,
            columns text[] NOT NULL,
            statement text NOT NULL,
            improvement_pct float8 NOT NULL,
            size_bytes bigint NOT NULL,
            write_overhead float8 NOT NULL,
            fingerprints text[] NOT NULL,
            method text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (table_name, columns)
        )
        """
    )
    op.execute(
        "CREATE INDEX qo_recommendations_active ON qo_recommendations (improvement_pct DESC)"
        " WHERE active"
    )


def downgrade() -> None:
    op.execute("DROP TABLE qo_recommendations, qo_slow_queries, qo_query_stats")
