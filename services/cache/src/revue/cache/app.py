"""Composition root of the cache service: settings -> runtime -> cache -> service -> bus."""

from __future__ import annotations

from revue.cache.entrypoints import bus
from revue.cache.services import CacheService
from revue.cache.settings import CacheSettings
from revue.common.cache.fanout import shared_cache
from revue.common.service import ServiceApp, ServiceRuntime, serve


def create_app(
    settings: CacheSettings | None = None, *, configure_process: bool = True
) -> ServiceApp:
    settings = settings or CacheSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    cache = shared_cache(
        runtime.broker, runtime.topology, runtime.use_redis(), settings.cache_config(), "cache"
    )
    service = CacheService(cache)
    bus.register(runtime, service, settings.cache_writer_consumer)
    app = runtime.build_app(
        title="Revue cache", description="The two-tier result cache (L1 memory, L2 Redis)."
    )
    app.state.service = service
    return app


def main() -> None:
    settings = CacheSettings()
    serve(create_app(settings), settings)
