"""Composition root of the query-optimizer service: settings -> runtime -> app."""

from __future__ import annotations

from fastapi import FastAPI

from revue.common.service import ServiceRuntime, serve
from revue.query_optimizer.settings import QueryOptimizerSettings


def create_app(
    settings: QueryOptimizerSettings | None = None, *, configure_process: bool = True
) -> FastAPI:
    settings = settings or QueryOptimizerSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    runtime.use_redis()
    runtime.use_database()
    return runtime.build_app(
        title="Revue query optimizer",
        description="Watches the suite's own SQL, recommends indexes and caches query results.",
    )


def main() -> None:
    settings = QueryOptimizerSettings()
    serve(create_app(settings), settings)
