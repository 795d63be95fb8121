"""Alembic environment of the analysis service (see revue.common.migrations)."""

from revue.analysis.store import metadata
from revue.common.migrations import run_env

run_env(target_metadata=metadata)
