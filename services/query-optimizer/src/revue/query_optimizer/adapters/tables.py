"""The query-optimizer's tables (created by its migrations, `migrations/versions/`).

- qo_query_stats: figures per statement fingerprint, added to as events arrive;
- qo_slow_queries: the slowest statements with their plans, trimmed to the newest;
- qo_recommendations: index advice, one row per (table, columns), the current ones active.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    MetaData,
    Table,
    Text,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

query_stats = Table(
    "qo_query_stats",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("normalized", Text, nullable=False),
    Column("example", Text, nullable=False),
    Column("services", ARRAY(Text), nullable=False),
    Column("tables", ARRAY(Text), nullable=False),
    Column("calls", Float, nullable=False),
    Column("total_ms", Float, nullable=False),
    Column("max_ms", Float, nullable=False),
    Column("rows", Float, nullable=False),
    Column("histogram", ARRAY(Float), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

slow_queries = Table(
    "qo_slow_queries",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("statement", Text, nullable=False),
    Column("plan", JSONB(none_as_null=True)),
    Column("plan_error", Text),
    Column("executed_at", DateTime(timezone=True), nullable=False),
)

recommendations = Table(
    "qo_recommendations",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("table_name", Text, nullable=False),
    Column("columns", ARRAY(Text), nullable=False),
    Column("include", ARRAY(Text), nullable=False, server_default="{}"),
    Column("predicate", Text, nullable=False, server_default=""),
    Column("statement", Text, nullable=False),
    Column("improvement_pct", Float, nullable=False),
    Column("measured_improvement_pct", Float),
    Column("size_bytes", BigInteger, nullable=False),
    Column("write_overhead", Float, nullable=False),
    Column("fingerprints", ARRAY(Text), nullable=False),
    Column("method", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
