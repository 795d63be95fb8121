"""Composition root of the query-optimizer: settings -> runtime -> adapters -> service -> bus."""

from __future__ import annotations

from revue.common.bus.publish import publish_event
from revue.common.cache.config import namespace_for
from revue.common.cache.l2 import L2RedisCache
from revue.common.contracts import subjects
from revue.common.contracts.events import RecommendationCreated
from revue.common.service import ServiceApp, ServiceRuntime, serve
from revue.query_optimizer.adapters.statistics import QueryStatistics
from revue.query_optimizer.advice import Advising
from revue.query_optimizer.entrypoints import bus
from revue.query_optimizer.query_cache import QueryResultCache
from revue.query_optimizer.services import QueryOptimizerService
from revue.query_optimizer.settings import QueryOptimizerSettings


def create_app(
    settings: QueryOptimizerSettings | None = None, *, configure_process: bool = True
) -> ServiceApp:
    settings = settings or QueryOptimizerSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    redis = runtime.use_redis()
    engine = runtime.use_database()
    cache = QueryResultCache(
        engine,
        L2RedisCache(redis, namespace_for(settings.bus_namespace)),
        enabled=settings.query_cache_enabled,
        default_ttl=settings.query_cache_ttl,
    )
    if runtime.query_monitor is not None:
        runtime.query_monitor.on_tables_changed(cache.apply_table_change)
    statistics = QueryStatistics(engine)

    async def announce(event: RecommendationCreated) -> None:
        await publish_event(
            runtime.nats, runtime.topology, subjects.QUERY_RECOMMENDATION_CREATED, event
        )

    advising = Advising(engine, statistics, settings, announce)
    service = QueryOptimizerService(engine, statistics, cache, advising, settings)
    bus.register(runtime, service, settings.query_events_consumer)

    async def start_advising() -> None:
        advising.start()

    runtime.on_startup(start_advising)
    runtime.on_stopping(advising.stop)
    app = runtime.build_app(
        title="Revue query optimizer",
        description="Watches the suite's own SQL, recommends indexes and caches query results.",
    )
    app.state.service = service
    return app


def main() -> None:
    settings = QueryOptimizerSettings()
    serve(create_app(settings), settings)
