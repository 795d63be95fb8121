"""Alembic environment of the cdn service (see revue.common.db.migrations)."""

from revue.common.db.migrations import run_env

run_env(target_metadata=None)
