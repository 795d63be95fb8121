"""Composition root of the analysis service: settings -> providers -> engine -> service -> bus."""

from __future__ import annotations

import structlog

from revue.analysis.adapters.providers import Provider
from revue.analysis.adapters.providers.llm.batch_api import BatchCollector
from revue.analysis.adapters.providers.llm.chat import ChatProvider
from revue.analysis.adapters.providers.registry import provider_chain
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

log = structlog.get_logger("revue.analysis")


def batch_collector(engine: AnalysisEngine, settings: AnalysisSettings) -> BatchCollector | None:
    """The Batch API for `batch` jobs (LLM_BATCH_API), where the first provider is a model."""
    if not settings.llm_batch_api:
        return None
    if not isinstance(engine.provider, ChatProvider):
        log.warning("LLM_BATCH_API needs a language model provider; batch jobs use normal calls")
        return None
    return BatchCollector(
        engine.provider,
        max_jobs=settings.llm_batch_max_jobs,
        max_age_s=settings.llm_batch_max_age_s,
        poll_s=settings.llm_batch_poll_s,
        window=settings.llm_batch_window,
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
    engine = AnalysisEngine(provider or provider_chain(settings), settings, cache)
    store = AnalysisStore(runtime.use_database())
    outcomes = Outcomes(runtime.broker, runtime.topology, store)
    background = Background()
    service = AnalysisService(engine, outcomes, background, store)
    runtime.readiness.add_details("providers", engine.describe)

    async def start() -> None:
        await engine.start()
        await outcomes.start()

    async def finish_outcomes() -> None:
        await background.drain(settings.shutdown_timeout)
        await outcomes.stop()

    # Start order: engine and outcome writer, then the entry points (the job worker);
    # stop order: the job worker first, then what is in flight is recorded.
    batch_api = batch_collector(engine, settings)
    runtime.on_startup(start)
    bus.register(runtime, service, settings, batch_api)
    runtime.on_stopping(finish_outcomes)
    runtime.on_shutdown(engine.stop)
    if batch_api is not None:
        runtime.on_shutdown(batch_api.aclose)
    app = runtime.build_app(
        title="Revue analysis",
        description="Code analysis via a pluggable AI provider: batching, retries, breaker.",
    )
    app.state.service = service
    return app


def main() -> None:
    settings = AnalysisSettings()
    serve(create_app(settings), settings)
