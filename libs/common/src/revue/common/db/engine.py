"""The async database layer: one pooled SQLAlchemy engine per service.

Pool defaults follow seed 003 (20 connections, 10 overflow, 30 s checkout
timeout, pre-ping, recycled hourly), each a setting. The pre-ping is for
connections that sat idle (`DB_POOL_PING_IDLE_S`), not for every checkout:
those are the ones a database restart or an idle timeout can have cut.
`PoolStatistics` counts
checkouts and exposes the pool to Prometheus at scrape time, so the figures
are live without a polling task.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from revue.common.settings import ServiceSettings


def create_engine(settings: ServiceSettings, url: str | None = None) -> AsyncEngine:
    """An asyncpg engine with the pool and per-connection settings of the service."""
    always_ping = settings.db_pool_pre_ping and settings.db_pool_ping_idle_s == 0
    engine = create_async_engine(
        url or settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=always_ping,
        connect_args={
            "server_settings": {
                "application_name": settings.otel_service_name,
                "statement_timeout": str(settings.db_statement_timeout_ms),
            }
        },
    )
    if settings.db_pool_pre_ping and not always_ping:
        ping_idle_connections(engine, settings.db_pool_ping_idle_s)
    return engine


IDLE_SINCE = "revue.idle_since"


def ping_idle_connections(engine: AsyncEngine, idle_s: float) -> None:
    """SQLAlchemy's pre-ping, for connections idle `idle_s` or more only.

    A dead connection found this way is replaced before the caller sees it
    (`DisconnectionError` makes the pool discard it and check out another).
    One that died while in use within the last `idle_s` still fails its next
    statement once; SQLAlchemy then invalidates the pool's connections.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def checked_in(_: Any, record: Any) -> None:
        if record is not None:
            record.info[IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _: Any) -> None:
        since = record.info.pop(IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_s:
            return  # just connected, or in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"idle connection is gone: {error}") from error
        if not alive:
            raise DisconnectionError("idle connection is gone")

    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "checkout", checked_out)


def asyncpg_dsn(url: str) -> str:
    """The same URL as plain libpq form, for asyncpg or psql."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class PoolStatistics:
    """Live pool figures plus checkout and checkin totals for one engine."""

    engine: AsyncEngine
    total_checkouts: int = 0
    total_checkins: int = 0
    total_connects: int = 0
    _listeners: list[tuple[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        pool = self.engine.sync_engine.pool
        for name, listener in (
            ("checkout", self._on_checkout),
            ("checkin", self._on_checkin),
            ("connect", self._on_connect),
        ):
            event.listen(pool, name, listener)
            self._listeners.append((name, listener))

    def _on_checkout(self, *_: Any) -> None:
        self.total_checkouts += 1

    def _on_checkin(self, *_: Any) -> None:
        self.total_checkins += 1

    def _on_connect(self, *_: Any) -> None:
        self.total_connects += 1

    def stats(self) -> dict[str, int]:
        pool: Any = self.engine.sync_engine.pool
        return {
            "size": pool.size(),
            "checked_in": pool.checkedin(),
            "checked_out": pool.checkedout(),
            "overflow": max(pool.overflow(), 0),
            "total_connections": pool.checkedin() + pool.checkedout(),
            "total_connects": self.total_connects,
            "total_checkouts": self.total_checkouts,
            "total_checkins": self.total_checkins,
        }


class PoolCollector(Collector):
    """Exports `db_pool_*` gauges from a `PoolStatistics` when scraped."""

    def __init__(self, statistics: PoolStatistics, service: str) -> None:
        self.statistics = statistics
        self.service = service

    def collect(self) -> Iterator[Any]:
        stats = self.statistics.stats()
        for name, key, doc in (
            ("db_pool_size", "size", "Configured persistent connections in the pool"),
            ("db_pool_checked_out", "checked_out", "Connections currently in use"),
            ("db_pool_checked_in", "checked_in", "Idle connections in the pool"),
            ("db_pool_overflow", "overflow", "Connections open beyond the pool size"),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=["service"])
            gauge.add_metric([self.service], stats[key])
            yield gauge
        checkouts = CounterMetricFamily(
            "db_pool_checkouts", "Connections handed out by the pool", labels=["service"]
        )
        checkouts.add_metric([self.service], stats["total_checkouts"])
        yield checkouts


def register_pool_metrics(
    statistics: PoolStatistics, registry: CollectorRegistry, service: str
) -> None:
    registry.register(PoolCollector(statistics, service))
