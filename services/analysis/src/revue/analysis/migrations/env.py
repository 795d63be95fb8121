"""Alembic environment of the analysis service (see revue.common.db.migrations)."""

from revue.analysis.adapters.tables import metadata
from revue.common.db.migrations import run_env

run_env(target_metadata=metadata)
