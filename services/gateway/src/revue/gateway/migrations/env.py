"""Alembic environment of the gateway service (see revue.common.migrations)."""

from revue.common.migrations import run_env

run_env(target_metadata=None)
