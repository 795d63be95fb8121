"""Composition root of the cdn service: settings -> store -> origin, deployer, invalidator -> app.

The process answers `/assets/...` from the origin before FastAPI sees the
request (`AssetsFirst`): serving a file needs none of the API's machinery.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from revue.cdn.archive import ArchiveLimits
from revue.cdn.compression import CompressionLevels
from revue.cdn.deploy import Deployer
from revue.cdn.handlers import register
from revue.cdn.ingest import IngestOptions
from revue.cdn.invalidation.backends import (
    CloudflarePurge,
    FastlyPurge,
    HttpPurge,
    OriginOnly,
    PurgeBackend,
)
from revue.cdn.invalidation.dispatcher import Invalidator
from revue.cdn.invalidation.store import InvalidationStore
from revue.cdn.origin import PREFIX, Origin
from revue.cdn.policy import ResourceTypes
from revue.cdn.requests_consumer import InvalidationRequests
from revue.cdn.routes import Cdn, router
from revue.cdn.settings import CdnSettings
from revue.cdn.store import AssetStore
from revue.common.bus.publish import publish_event
from revue.common.contracts import subjects
from revue.common.contracts.events import AssetPublished, InvalidationCompleted
from revue.common.service import ServiceRuntime, serve


def purge_backend(settings: CdnSettings) -> PurgeBackend:
    token = settings.cdn_purge_token.get_secret_value() if settings.cdn_purge_token else ""
    pacing = {
        key: value
        for key, value in (("rate", settings.cdn_purge_rate), ("burst", settings.cdn_purge_burst))
        if value is not None
    }
    if settings.cdn_purge_backend == "purge":
        return HttpPurge(settings.cdn_purge_url, **pacing)
    if settings.cdn_purge_backend == "fastly":
        return FastlyPurge(settings.cdn_purge_url, settings.cdn_purge_service_id, token, **pacing)
    if settings.cdn_purge_backend == "cloudflare":
        return CloudflarePurge(
            settings.cdn_purge_url,
            settings.cdn_purge_service_id,
            token,
            settings.cdn_public_url,
            **pacing,
        )
    return OriginOnly()


def ingest_options(settings: CdnSettings) -> IngestOptions:
    return IngestOptions(
        compression=settings.cdn_compression_enabled,
        levels=CompressionLevels(settings.cdn_brotli_quality, settings.cdn_gzip_level),
        limits=ArchiveLimits(
            settings.cdn_max_files, settings.cdn_max_total_bytes, settings.cdn_max_compression_ratio
        ),
        base_url=settings.cdn_base_url,
    )


class AssetsFirst:
    """`/assets/...` to the origin; everything else (API, health, metrics) to FastAPI."""

    def __init__(self, api: FastAPI, origin: Origin) -> None:
        self.api = api
        self.origin = origin
        self.state = api.state  # what callers of a FastAPI app reach for
        self.router = api.router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.origin(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(settings: CdnSettings | None = None, *, configure_process: bool = True) -> ASGIApp:
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
        purge_backend(settings),
        InvalidationStore(engine),
        announce_completed,
        known_paths,
        window=settings.cdn_invalidation_window,
        retry_interval=settings.cdn_invalidation_retry_interval,
    )
    deployer = Deployer(
        store, types, ingest_options(settings), engine, origin, invalidator, announce_published
    )
    requests = InvalidationRequests(
        lambda: runtime.nats, runtime.topology, invalidator, "cdn-invalidations"
    )

    async def start() -> None:
        origin.reload()
        await invalidator.start()
        await requests.start()

    async def stop() -> None:
        await requests.stop()
        await invalidator.stop()

    register(runtime.broker, runtime.topology, store)
    runtime.on_startup(start)
    runtime.on_stopping(stop)
    api = runtime.build_app(
        title="Revue CDN origin",
        description="Versions, compresses, serves and invalidates static assets.",
        routers=[router],
    )
    api.state.cdn = Cdn(settings, store, deployer, invalidator)
    api.state.origin = origin
    return AssetsFirst(api, origin)


def main() -> None:
    settings = CdnSettings()
    serve(create_app(settings), settings)
