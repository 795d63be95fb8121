"""Composition root of the analysis service: settings -> provider -> engine -> service -> bus."""

from __future__ import annotations

from revue.analysis.adapters.providers import Provider
from revue.analysis.adapters.sessions import AnalysisStore
from revue.analysis.background import Background
from revue.analysis.engine import AnalysisEngine
from revue.analysis.entrypoints import bus
from revue.analysis.outcomes import Outcomes
from revue.analysis.services import AnalysisService
from revue.analysis.settings import AnalysisSettings
from revue.common.cache import CacheConfig
from revue.common.cache.config import namespace_for
from revue.common.cache.fanout import shared_cache
from revue.common.service import ServiceApp, ServiceRuntime, serve


def create_provider(settings: AnalysisSettings) -> Provider:
    if settings.provider == "openai":
        from revue.analysis.adapters.providers.openai import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    from revue.analysis.adapters.providers.builtin import BuiltinProvider

    return BuiltinProvider(
        processes=settings.analysis_processes, deadline=settings.analysis_worker_deadline
    )


def create_app(
    settings: AnalysisSettings | None = None,
    *,
    configure_process: bool = True,
    provider: Provider | None = None,
) -> ServiceApp:
    settings = settings or AnalysisSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
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
    outcomes = Outcomes(runtime.broker, runtime.topology, AnalysisStore(runtime.use_database()))
    background = Background()
    service = AnalysisService(engine, outcomes, background)

    async def start() -> None:
        await engine.start()
        await outcomes.start()

    async def finish_outcomes() -> None:
        await background.drain(settings.shutdown_timeout)
        await outcomes.stop()

    # Start order: engine and outcome writer, then the entry points (the job worker);
    # stop order: the job worker first, then what is in flight is recorded.
    runtime.on_startup(start)
    bus.register(runtime, service, settings)
    runtime.on_stopping(finish_outcomes)
    runtime.on_shutdown(engine.stop)
    app = runtime.build_app(
        title="Revue analysis",
        description="Code analysis via a pluggable AI provider: batching, retries, breaker.",
    )
    app.state.service = service
    return app


def main() -> None:
    settings = AnalysisSettings()
    serve(create_app(settings), settings)
