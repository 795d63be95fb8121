"""Composition root of the query-optimizer: settings -> runtime -> collector, advice, reports."""

from __future__ import annotations

from fastapi import FastAPI

from revue.common.cache.config import namespace_for
from revue.common.cache.l2 import L2RedisCache
from revue.common.contracts import subjects
from revue.common.contracts.events import RecommendationCreated
from revue.common.service import ServiceRuntime, serve
from revue.query_optimizer.advice import Advising
from revue.query_optimizer.collector import QueryEvents
from revue.query_optimizer.handlers import register
from revue.query_optimizer.query_cache import QueryResultCache, follow_table_changes
from revue.query_optimizer.report import Reports
from revue.query_optimizer.settings import QueryOptimizerSettings


def create_app(
    settings: QueryOptimizerSettings | None = None, *, configure_process: bool = True
) -> FastAPI:
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
    follow_table_changes(runtime.broker, runtime.topology, cache)

    async def announce(event: RecommendationCreated) -> None:
        await runtime.nats.jetstream().publish(
            runtime.topology.subject(subjects.QUERY_RECOMMENDATION_CREATED),
            event.model_dump_json().encode(),
        )

    advising = Advising(engine, settings, announce)
    collector = QueryEvents(
        lambda: runtime.nats,
        runtime.topology,
        engine,
        durable=settings.qo_consumer,
        slow_ms=settings.qo_slow_query_ms,
        explain_timeout_ms=settings.qo_explain_timeout_ms,
        slow_log_max_rows=settings.qo_slow_log_max_rows,
    )
    reports = Reports(cache, advising, settings.query_cache_ttl)
    register(runtime.broker, runtime.topology, reports)

    async def start() -> None:
        await collector.start()
        advising.start()

    async def stop() -> None:
        await advising.stop()
        await collector.stop()

    runtime.on_startup(start)
    runtime.on_stopping(stop)
    app = runtime.build_app(
        title="Revue query optimizer",
        description="Watches the suite's own SQL, recommends indexes and caches query results.",
    )
    app.state.query_cache = cache
    app.state.advising = advising
    app.state.reports = reports
    return app


def main() -> None:
    settings = QueryOptimizerSettings()
    serve(create_app(settings), settings)
