"""Composition root of the analysis service: settings -> provider -> engine -> handlers."""

from __future__ import annotations

from fastapi import FastAPI

from revue.analysis.background import Background
from revue.analysis.engine import AnalysisEngine
from revue.analysis.handlers import register
from revue.analysis.jobs import JobWorker
from revue.analysis.outcomes import Outcomes
from revue.analysis.providers import Provider
from revue.analysis.settings import AnalysisSettings
from revue.analysis.store import AnalysisStore
from revue.common.cache import CacheConfig
from revue.common.cache.config import namespace_for
from revue.common.cache.fanout import shared_cache
from revue.common.service import ServiceRuntime, serve


def create_provider(settings: AnalysisSettings) -> Provider:
    if settings.provider == "openai":
        from revue.analysis.providers.openai import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    from revue.analysis.providers.builtin import BuiltinProvider

    return BuiltinProvider(
        processes=settings.analysis_processes, deadline=settings.analysis_worker_deadline
    )


def create_app(
    settings: AnalysisSettings | None = None,
    *,
    configure_process: bool = True,
    provider: Provider | None = None,
) -> FastAPI:
    settings = settings or AnalysisSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    store = AnalysisStore(runtime.use_database())
    cache = shared_cache(
        runtime.broker,
        runtime.topology,
        runtime.use_redis(),
        CacheConfig(
            enabled=settings.cache_enabled, namespace=namespace_for(settings.bus_namespace)
        ),
        "analysis",
    )
    engine = AnalysisEngine(provider or create_provider(settings), settings, cache)
    outcomes = Outcomes(runtime.broker, runtime.topology, store)
    background = Background()
    state: dict[str, JobWorker] = {}

    async def start() -> None:
        await engine.start()
        await outcomes.start()
        if settings.jobs_enabled:
            worker = JobWorker(runtime.nats, runtime.topology, engine, outcomes, settings)
            await worker.start()
            state["worker"] = worker

    async def stop_taking_work() -> None:
        if "worker" in state:
            await state["worker"].stop()
        await background.drain(settings.shutdown_timeout)
        await outcomes.stop()

    runtime.on_startup(start)
    runtime.on_stopping(stop_taking_work)
    runtime.on_shutdown(engine.stop)
    register(
        runtime,
        engine,
        outcomes,
        background,
        lambda: state.get("worker"),
        concurrency=settings.request_concurrency,
    )
    app = runtime.build_app(
        title="Revue analysis",
        description="Code analysis via a pluggable AI provider: batching, retries, breaker.",
    )
    app.state.engine = engine
    app.state.jobs = state
    return app


def main() -> None:
    settings = AnalysisSettings()
    serve(create_app(settings), settings)
