"""Composition root of the cache service: settings -> runtime -> app."""

from __future__ import annotations

from fastapi import FastAPI

from revue.cache.settings import CacheSettings
from revue.common.service import ServiceRuntime, serve


def create_app(settings: CacheSettings | None = None, *, configure_process: bool = True) -> FastAPI:
    settings = settings or CacheSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    runtime.use_redis()
    return runtime.build_app(
        title="Revue cache",
        description="The two-tier result cache (L1 memory, L2 Redis) and its invalidation.",
    )


def main() -> None:
    settings = CacheSettings()
    serve(create_app(settings), settings)
