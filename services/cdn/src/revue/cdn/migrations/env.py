"""Alembic environment of the cdn service (see revue.common.db.migrations)."""

from revue.cdn.adapters.tables import metadata
from revue.common.db.migrations import run_env

run_env(target_metadata=metadata)
