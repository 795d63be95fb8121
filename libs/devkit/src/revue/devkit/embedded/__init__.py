"""Real NATS, Redis and PostgreSQL servers from pip-installed binaries.

Used by `make run` and the test fixtures for any of the three whose
configured server does not answer. Each binds 127.0.0.1 on a free port and
keeps its data under one folder (`.revue/` by default).
"""

from revue.devkit.embedded.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServer,
)
from revue.devkit.embedded.stack import Infrastructure, resolve_infrastructure

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServer",
    "Infrastructure",
    "resolve_infrastructure",
]
