"""The cdn service's tables: deployments, and invalidations pending or done."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

deployments = Table(
    "cdn_deployments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("files", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("changed_paths", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

invalidations = Table(
    "cdn_invalidations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("paths", JSONB, nullable=False),
    Column("patterns", JSONB, nullable=False),
    Column("surrogate_keys", JSONB, nullable=False),
    Column("everything", Boolean, nullable=False),
    Column("soft", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # pending | purged | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("backend", String(32)),
    Column("detail", Text, nullable=False, server_default=""),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
)
