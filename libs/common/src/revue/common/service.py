"""What every service process is made of, assembled in one place.

A service's `app.py` creates a `ServiceRuntime` from its settings, asks it for
the connections it needs (`use_redis`, `use_database`), registers its
handlers on `runtime.broker`, and calls `build_app`. The runtime owns the
order of things:

    up:   NATS connection -> streams -> on_startup hooks -> subscribers
    down: subscribers stop and finish their in-flight messages
          -> on_stopping hooks (stop other work, finish background tasks)
          -> NATS closed -> on_shutdown hooks (close pools)

so in-flight work always finishes against live connections.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.middleware import Middleware
from faststream.nats import NatsBroker
from nats.aio.client import Client
from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from revue.common.bus.broker import RejectMalformed, create_broker
from revue.common.bus.pull_consumer import Handler as BatchHandler
from revue.common.bus.pull_consumer import PullConsumer
from revue.common.bus.responder import Handler, Responder, ResponderMetrics
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.events import Event
from revue.common.contracts.streams import StreamSpec
from revue.common.contracts.subjects import BusTopology
from revue.common.db.engine import PoolStatistics, create_engine, register_pool_metrics
from revue.common.db.query_monitor import QueryMonitor
from revue.common.observability.health import (
    Readiness,
    nats_check,
    observability_router,
    postgres_check,
    redis_check,
)
from revue.common.observability.http_telemetry import HttpMetrics, RequestTelemetry
from revue.common.observability.logs import configure_logging
from revue.common.observability.tracing import instrument_clients, instrument_engine, setup_tracing
from revue.common.settings import ServiceSettings

Hook = Callable[[], Awaitable[Any]]
E = TypeVar("E", bound=Event)
log = structlog.get_logger("revue.service")


# Young-generation collections every 50,000 allocations instead of 700: a
# request allocates a few hundred objects, nearly all freed by reference
# counting as it ends, so frequent young collections mostly find nothing.
GC_THRESHOLDS = (50_000, 20, 100)


def freeze_startup_objects() -> None:
    """Keep what start-up built (routes, schemas, models, clients) out of garbage collection.

    A full collection walks every tracked object, and a service holds
    hundreds of thousands after start-up: a pause every request in flight
    waits out (it showed as the p99). Frozen objects are
    never scanned, and those that start-up made are meant to live as long as
    the process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class ServiceApp(FastAPI):
    """A FastAPI app that may put a front door before FastAPI's own request machinery.

    A front door is an ASGI app given `app.handle` (FastAPI's full request
    path) as its `app`: it answers the requests it is built for, cheaply,
    and hands every other one on untouched. It then owns, for the requests
    it answers, what the middleware would have done (metrics, logs, spans,
    headers): `http_metrics` is there for it.
    """

    front_door: ASGIApp | None = None
    http_metrics: HttpMetrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front_door is not None and scope["type"] == "http":
            await self.front_door(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The whole FastAPI path: middleware, routing, dependencies, telemetry."""
        await super().__call__(scope, receive, send)


class ServiceRuntime:
    """Settings, telemetry, metrics, broker and readiness of one service."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        configure_process: bool = True,
        ensure_bus_streams: bool = True,
    ) -> None:
        """`configure_process=False` leaves global logging and tracing alone (tests)."""
        self.settings = settings
        self.name = settings.otel_service_name
        self.configure_process = configure_process
        if configure_process:
            configure_logging(self.name, settings.log_level, settings.log_format)
        self.registry = CollectorRegistry()
        self.tracer_provider = setup_tracing(settings, set_global=configure_process)
        if configure_process:
            instrument_clients(self.tracer_provider)
        self.topology = BusTopology(settings.bus_namespace)
        rejections = RejectMalformed(self.registry)
        self.broker: NatsBroker = create_broker(
            settings,
            registry=self.registry,
            tracer_provider=self.tracer_provider,
            rejections=rejections,
        )
        self._responder_metrics = ResponderMetrics(self.registry, rejections)
        self.responders: list[Responder[Any]] = []
        self.readiness = Readiness(timeout=settings.readiness_timeout)
        self.readiness.add("nats", nats_check(self._nats_connected, self._nats_flush))
        self.ensure_bus_streams = ensure_bus_streams
        self._startup: list[Hook] = []
        self._stopping: list[Hook] = []
        self._shutdown: list[Hook] = []
        self.pool_statistics: PoolStatistics | None = None
        self.query_monitor: QueryMonitor | None = None

    # --- connections ----------------------------------------------------------

    def _nats_connected(self) -> bool:
        try:
            return bool(self.broker.connection.is_connected)
        except Exception:  # not connected yet: the state object has no connection
            return False

    async def _nats_flush(self) -> None:
        await self.broker.connection.flush(timeout=self.settings.readiness_timeout)

    def use_redis(self) -> Redis:
        # A burst of writes (a batch of jobs answered at once) waits for a connection
        # instead of failing: redis-py's plain pool raises past its size.
        pool = BlockingConnectionPool.from_url(
            self.settings.redis_url,
            max_connections=self.settings.redis_max_connections,
            timeout=self.settings.readiness_timeout,
            socket_timeout=self.settings.readiness_timeout,
            socket_connect_timeout=self.settings.readiness_timeout,
            health_check_interval=30,
        )
        client = Redis.from_pool(pool)  # closing the client closes its pool
        self.readiness.add("redis", redis_check(client))
        self.on_shutdown(client.aclose)
        return client

    def use_database(self) -> AsyncEngine:
        engine = create_engine(self.settings)
        instrument_engine(engine, self.tracer_provider)
        self.pool_statistics = PoolStatistics(engine)
        register_pool_metrics(self.pool_statistics, self.registry, self.name)
        self.readiness.add("postgres", postgres_check(engine))
        self.on_shutdown(engine.dispose)
        if self.settings.db_query_events_enabled:
            monitor = QueryMonitor(
                self.name,
                sample_rate=self.settings.db_query_sample_rate,
                slow_ms=self.settings.db_slow_query_ms,
                buffer_size=self.settings.db_query_buffer,
            )
            monitor.attach(engine)
            self.query_monitor = monitor

            async def publish_query_events() -> None:
                monitor.start(lambda: self.nats, self.topology)

            self.on_startup(publish_query_events)
            # Registered first, so it runs last: after every other stopping hook's writes.
            self._stopping.insert(0, monitor.stop)
        return engine

    # --- lifecycle --------------------------------------------------------------

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_stopping(self, hook: Hook) -> None:
        """Runs first on shutdown, while NATS is still connected."""
        self._stopping.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Runs last on shutdown, after the broker has stopped."""
        self._shutdown.append(hook)

    def durable_consumer(
        self, subject: str, stream: StreamSpec, durable: str, handler: BatchHandler, **options: Any
    ) -> PullConsumer:
        """Declare a durable JetStream pull consumer: started with the service, stopped first.

        `subject` and `stream` are the contract's names; the deployment's
        namespace is applied here. `options` go to `PullConsumer`.
        """
        consumer = PullConsumer(
            lambda: self.nats,
            subject=self.topology.subject(subject),
            stream=self.topology.stream(stream.name),
            durable=durable,
            handler=handler,
            **options,
        )
        self.on_startup(consumer.start)
        self.on_stopping(consumer.stop)
        return consumer

    def responder(
        self, subject: str, *, queue: str, concurrency: int
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Declare a hot request/reply handler answered with nats-py (see `responder`)."""

        def declare(handle: Handler[E]) -> Handler[E]:
            self.responders.append(
                Responder(
                    subject,
                    queue,
                    handle,
                    concurrency=concurrency,
                    tracer=self.tracer_provider.get_tracer("revue.responder"),
                    metrics=self._responder_metrics,
                )
            )
            return handle

        return declare

    @property
    def nats(self) -> Client:
        """The broker's live NATS connection (for JetStream pull consumers)."""
        return self.broker.connection

    @asynccontextmanager
    async def lifespan(self, _: FastAPI | None = None) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in reversed(self._shutdown):
                stack.push_async_callback(hook)
            await self.broker.connect()
            stack.push_async_callback(self.broker.stop)
            if self.ensure_bus_streams and self.settings.bus_manage_streams:
                await ensure_streams(self.nats.jetstream(), self.topology)
            for hook in self._startup:
                await hook()
            await self.broker.start()
            for responder in self.responders:
                await responder.start(self.nats)
            # Started means the server already routes to our subscriptions.
            await self.nats.flush(timeout=self.settings.readiness_timeout)
            if self.configure_process:
                freeze_startup_objects()
            for hook in reversed(self._stopping):
                stack.push_async_callback(hook)
            stack.push_async_callback(self._stop_subscribers)
            log.info("service started", port=self.settings.port)
            yield
            log.info("service stopping")
        self.tracer_provider.shutdown()

    async def _stop_subscribers(self) -> None:
        """Stop consuming; each subscriber waits for its in-flight messages."""
        await asyncio.gather(
            *(subscriber.stop() for subscriber in self.broker.subscribers),
            *(responder.stop(self.settings.shutdown_timeout) for responder in self.responders),
        )

    def build_app(
        self,
        *,
        title: str,
        description: str = "",
        routers: Sequence[APIRouter] = (),
        middleware: Sequence[Middleware] = (),
        **fastapi_options: Any,
    ) -> ServiceApp:
        """The service's FastAPI app: its routers, observability routes, middleware.

        `middleware` runs outermost first, inside request telemetry, which
        counts and logs every request, including the ones a middleware answers.
        """
        http_metrics = HttpMetrics(self.registry)
        telemetry = Middleware(RequestTelemetry, metrics=http_metrics)
        app = ServiceApp(
            title=title,
            description=description,
            version=self.settings.service_version,
            lifespan=self.lifespan,
            # One server span per request, on this service's provider; a span
            # per dependency and endpoint call costs more than it tells.
            telemetry={"tracer_provider": self.tracer_provider, "operation_spans": False},
            middleware=[telemetry, *middleware],
            **fastapi_options,
        )
        app.include_router(observability_router(self.name, self.readiness, self.registry))
        for router in routers:
            app.include_router(router)
        app.state.runtime = self
        app.http_metrics = http_metrics
        return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the app under uvicorn until SIGINT/SIGTERM, then shut down gracefully."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        log_level=logging.getLevelName(logging.getLogger().level).lower(),
    )
    # uvicorn re-raises the signal it caught once its graceful shutdown is
    # done, restoring the handler that was there before; with these no-op
    # handlers in place, a clean stop exits 0 instead of "killed by SIGTERM".
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run()
