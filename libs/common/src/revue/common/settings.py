"""Settings shared by every service, read from the environment.

Each service extends `ServiceSettings` with its own knobs and overrides the
defaults for `otel_service_name` and `port`. Field names match their
environment variables (`nats_url` <- `NATS_URL`), so a deployment configures
the suite without reading code.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# A secret shorter than this is no secret: it counts as unset (DESIGN.md, "Trust").
MIN_SECRET_BYTES = 32


def configured_secret(secret: SecretStr | None, min_bytes: int = MIN_SECRET_BYTES) -> str | None:
    """The secret's value, or None when it is unset, empty or shorter than `min_bytes`.

    `${TOKEN:-}` in a compose file makes an empty string, and comparing an empty
    token with an empty header succeeds: an empty or short secret must never
    open anything.
    """
    if secret is None:
        return None
    value = secret.get_secret_value()
    return value if len(value.encode()) >= min_bytes else None


def redacted_url(url: str) -> str:
    """The URL without its user and password, for logs (`nats://u:p@host` -> `nats://host`)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url.rpartition("@")[2]
    location, slash, path = rest.partition("/")
    return f"{scheme}://{location.rpartition('@')[2]}{slash}{path}"


class ServiceSettings(BaseSettings):
    """What every Revue service reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        # The docstring under each field is its description (docs/configuration.md).
        use_attribute_docstrings=True,
    )

    otel_service_name: str = "revue"
    """The service's name in traces and logs (each service sets its own: `revue-<service>`)."""
    service_version: str = "0.1.0"
    """The version reported in traces and the OpenAPI document."""
    port: int = Field(default=8000, ge=1, le=65535)
    """The HTTP port (each service reads its own variable: `GATEWAY_PORT`, ...)."""
    http_host: str = "127.0.0.1"
    """The bind address (`0.0.0.0` in containers)."""

    nats_url: str = DEFAULT_NATS_URL
    """The NATS server, with JetStream enabled."""
    nats_user: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    """This service's NATS user (see `revue nats-config`); unset: no bus authentication.
    Its replies come to `_INBOX_<user>.>`."""
    nats_password: SecretStr | None = None
    """The NATS user's password."""
    bus_manage_streams: bool = True
    """Declare the JetStream streams at start-up; false where an admin declared them
    (`revue migrate` as the NATS `admin` user) and services may not."""
    redis_url: str = DEFAULT_REDIS_URL
    """Redis: the L2 result cache and the rate limits."""
    redis_max_connections: int = Field(default=100, ge=1, le=10_000)
    """Connections to Redis one process opens at most; past them, a call waits for one."""
    database_url: str = DEFAULT_DATABASE_URL
    """PostgreSQL (an SQLAlchemy URL with the asyncpg driver)."""
    bus_namespace: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$", max_length=32)
    """A prefix for every subject, stream and cache key, so that deployments (or test
    runs) can share one NATS and one Redis without seeing each other."""

    otel_exporter_otlp_endpoint: str | None = None
    """OTLP/HTTP collector base URL (`http://jaeger:4318`); unset, spans are neither
    exported nor recorded (logs still carry trace and span ids)."""
    otel_traces_sampler_arg: float = Field(default=1.0, ge=0.0, le=1.0)
    """The share of new traces sampled (a sampled caller's decision is always followed)."""

    log_level: str = "INFO"
    """The log level."""
    log_format: str = Field(default="json", pattern="^(json|console)$")
    """`json` (one object per line, with `service`, `trace_id`, `span_id`) or `console`."""

    db_pool_size: int = Field(default=20, ge=1)
    """Connections the pool keeps open."""
    db_max_overflow: int = Field(default=10, ge=0)
    """Connections the pool may open beyond its size under load."""
    db_pool_timeout: float = Field(default=30.0, gt=0)
    """Seconds a request waits for a free connection before failing."""
    db_pool_recycle: int = Field(default=3600, ge=-1)
    """Seconds after which a connection is replaced (-1: never)."""
    db_pool_pre_ping: bool = True
    """Check a connection before handing it out (see `DB_POOL_PING_IDLE_S`)."""
    db_pool_ping_idle_s: float = Field(default=5.0, ge=0)
    """Pre-ping only connections idle this long (0: every checkout): a busy pool's
    connections were in use a moment ago, and pinging them costs a round trip each."""
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    """Server-side statement timeout on every connection (0: none)."""
    db_query_events_enabled: bool = True
    """Report this service's SQL to the query-optimizer (`db.query.executed`)."""
    db_query_sample_rate: float = Field(default=0.1, ge=0, le=1)
    """The share of statements reported; every slow one is reported regardless."""
    db_slow_query_ms: float = Field(default=100.0, ge=0)
    """A statement at least this slow is always reported."""
    db_query_buffer: int = Field(default=10_000, ge=1)
    """Reports held while NATS is away; past it the oldest are dropped (counted)."""

    readiness_timeout: float = Field(default=2.0, gt=0)
    """Seconds each `/readyz` check may take."""
    shutdown_timeout: float = Field(default=15.0, gt=0)
    """Seconds in-flight work gets to finish on SIGTERM."""

    def nats_options(self) -> dict[str, Any]:
        """Keyword arguments of `nats.connect` (and FastStream's `NatsBroker`) for this service."""
        options: dict[str, Any] = {"servers": [self.nats_url]}
        if self.nats_user:
            from revue.common.bus.permissions import inbox_prefix

            options["user"] = self.nats_user
            options["password"] = (
                self.nats_password.get_secret_value() if self.nats_password else ""
            )
            # Replies come to this user's own inbox, the only one it may read.
            options["inbox_prefix"] = inbox_prefix(self.nats_user)
        return options
