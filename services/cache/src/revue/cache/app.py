"""Composition root of the cache service: settings -> cache -> handlers -> app."""

from __future__ import annotations

from fastapi import FastAPI

from revue.cache.handlers import register
from revue.cache.settings import CacheSettings
from revue.cache.write_through import WriteThrough
from revue.common.cache.fanout import shared_cache
from revue.common.service import ServiceRuntime, serve


def create_app(settings: CacheSettings | None = None, *, configure_process: bool = True) -> FastAPI:
    settings = settings or CacheSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    cache = shared_cache(
        runtime.broker, runtime.topology, runtime.use_redis(), settings.cache_config(), "cache"
    )
    register(runtime.broker, runtime.topology, cache)
    writer = WriteThrough(
        lambda: runtime.nats, runtime.topology, cache, settings.cache_writer_consumer
    )
    runtime.on_startup(writer.start)
    runtime.on_stopping(writer.stop)
    app = runtime.build_app(
        title="Revue cache", description="The two-tier result cache (L1 memory, L2 Redis)."
    )
    app.state.cache = cache
    app.state.write_through = writer
    return app


def main() -> None:
    settings = CacheSettings()
    serve(create_app(settings), settings)
