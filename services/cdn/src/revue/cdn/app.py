"""Composition root of the cdn: settings -> store, origin, deployer, invalidator -> service."""

from __future__ import annotations

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.adapters.deployments import DeploymentLog
from revue.cdn.adapters.invalidations import InvalidationStore
from revue.cdn.adapters.purge_backends import purge_backend_for
from revue.cdn.deploy import Deployer
from revue.cdn.entrypoints import bus, http
from revue.cdn.invalidation.dispatcher import Invalidator
from revue.cdn.origin import Origin
from revue.cdn.policy import ResourceTypes
from revue.cdn.services import CdnError, CdnService
from revue.cdn.settings import CdnSettings
from revue.common.bus.publish import publish_event
from revue.common.contracts import subjects
from revue.common.contracts.events import AssetPublished, InvalidationCompleted
from revue.common.service import ServiceApp, ServiceRuntime, serve


def create_app(
    settings: CdnSettings | None = None, *, configure_process: bool = True
) -> ServiceApp:
    settings = settings or CdnSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    engine = runtime.use_database()
    store = AssetStore(settings.cdn_store_dir)
    types = ResourceTypes(settings.cdn_cache_policies)
    origin = Origin(
        store,
        types,
        compression=settings.cdn_compression_enabled,
        memory_budget=settings.cdn_memory_budget_bytes,
        inline_max=settings.cdn_inline_max_bytes,
        max_ranges=settings.cdn_max_ranges,
    )

    async def announce_completed(event: InvalidationCompleted) -> None:
        await publish_event(
            runtime.nats, runtime.topology, subjects.CDN_INVALIDATE_COMPLETED, event
        )

    async def announce_published(event: AssetPublished) -> None:
        await publish_event(runtime.nats, runtime.topology, subjects.CDN_ASSET_PUBLISHED, event)

    def known_paths() -> list[str]:
        origin.reload()
        return origin.deployed_paths

    invalidator = Invalidator(
        purge_backend_for(settings),
        InvalidationStore(engine),
        announce_completed,
        known_paths,
        window=settings.cdn_invalidation_window,
        retry_interval=settings.cdn_invalidation_retry_interval,
    )
    deployer = Deployer(
        store,
        types,
        settings.ingest_options(),
        DeploymentLog(engine),
        origin,
        invalidator,
        announce_published,
    )
    service = CdnService(settings, store, deployer, invalidator)

    async def start_serving() -> None:
        origin.reload()
        await invalidator.start()

    # Up in this order, down in this order: the consumer stops before the loop it feeds.
    runtime.on_startup(start_serving)
    bus.register(runtime, service)
    runtime.on_stopping(invalidator.stop)
    app = runtime.build_app(
        title="Revue CDN origin",
        description="Versions, compresses, serves and invalidates static assets.",
        routers=[http.router],
    )
    app.add_exception_handler(CdnError, http.cdn_error)
    app.front_door = http.OriginFirst(app.handle, origin)
    app.state.service = service
    app.state.origin = origin
    return app


def main() -> None:
    settings = CdnSettings()
    serve(create_app(settings), settings)
