"""Alembic environment of the gateway service (see revue.common.db.migrations)."""

from revue.common.db.migrations import run_env
from revue.gateway.adapters.tables import metadata

run_env(target_metadata=metadata)
