"""Alembic environment of the query-optimizer service (see revue.common.db.migrations)."""

from revue.common.db.migrations import run_env
from revue.query_optimizer.adapters.tables import metadata

run_env(target_metadata=metadata)
