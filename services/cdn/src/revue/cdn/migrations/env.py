"""Alembic environment of the cdn service (see revue.common.db.migrations)."""

from revue.common.db.migrations import run_env
from revue.cdn.adapters.tables import metadata

run_env(target_metadata=metadata)
