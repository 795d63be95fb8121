"""Alembic, wired once for every service that owns tables.

Each service keeps its revisions in its own `migrations/` package and its own
version table (`alembic_version_<service>`), so services share one database
without sharing a migration history. A service's `migrations/env.py` is two
lines: import its metadata, call `run_env`.
"""

from __future__ import annotations

import asyncio
from importlib import resources

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from revue.common.contracts.services import SERVICES, ServiceSpec


def has_migrations(service_module: str) -> bool:
    """Whether `revue.<service>` ships a `migrations/` package."""
    try:
        return resources.files(service_module).joinpath("migrations", "env.py").is_file()
    except ModuleNotFoundError:
        return False


def version_table(service_module: str) -> str:
    return "alembic_version_" + service_module.rsplit(".", 1)[-1]


def alembic_config(service_module: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{service_module}:migrations")
    # Passed as an attribute, not an option: ConfigParser would choke on a
    # password containing '%'.
    config.attributes["database_url"] = database_url
    config.attributes["version_table"] = version_table(service_module)
    return config


def upgrade(service_module: str, database_url: str, revision: str = "head") -> None:
    """Bring the service's tables to `revision`. Blocking: call from a thread."""
    command.upgrade(alembic_config(service_module, database_url), revision)


def downgrade(service_module: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service_module, database_url), revision)


def run_env(target_metadata: MetaData | None) -> None:
    """The body of every service's `migrations/env.py`."""
    config = context.config
    url = config.attributes["database_url"]
    table = config.attributes["version_table"]

    def configure_and_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=table,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, version_table=table)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run_online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(configure_and_run)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run_online())


def migrate_all(database_url: str, services: tuple[ServiceSpec, ...] = SERVICES) -> list[str]:
    """Upgrade every service that owns tables; return the ones migrated."""
    done = []
    for spec in services:
        if has_migrations(spec.module):
            upgrade(spec.module, database_url)
            done.append(spec.name)
    return done
