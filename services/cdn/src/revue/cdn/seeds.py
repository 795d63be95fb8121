"""Seed 001's `CDNManager`, as its users call it, over the cdn's machinery.

    cdn = get_cdn_manager()
    cdn.get_cdn_url("/static/js/app.js", file_path="dist/js/app.js")
        # "https://cdn.example.com/static/js/app.js?v=a1b2c3d4"
    content, headers = cdn.process_resource(content, "/static/js/app.js", "br, gzip")
    await cdn.queue_invalidation(["/assets/js/app.*.js"])   # the running cdn purges it
    await cdn.invalidate_all()

URLs are versioned by content hash (`versioning`), bodies compressed as the
ingest does (`compression`) and chosen by Accept-Encoding (`negotiation`),
headers from the cache policy of the resource's type (`policy`);
invalidations are requests on `cdn.invalidate.requested`, which the cdn
service stores, coalesces and purges (`invalidation/`).
"""

from __future__ import annotations

from pathlib import Path

import nats

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.compression import compress_variants
from revue.cdn.invalidation.dispatcher import is_pattern
from revue.cdn.negotiation import choose_encoding
from revue.cdn.policy import ResourceTypes, content_type
from revue.cdn.settings import CdnSettings
from revue.cdn.versioning import content_hash, versioned_url
from revue.common.bus.publish import publish_event
from revue.common.contracts import subjects
from revue.common.contracts.events import RequestInvalidation
from revue.common.contracts.subjects import BusTopology


class CDNManager:
    def __init__(self, settings: CdnSettings | None = None) -> None:
        self.settings = settings or CdnSettings()
        self.types = ResourceTypes(self.settings.cdn_cache_policies)
        self.store = AssetStore(self.settings.cdn_store_dir)

    @property
    def base_url(self) -> str:
        return self.settings.cdn_base_url or self.settings.cdn_public_url

    def get_cdn_url(self, path: str, file_path: str | Path | None = None) -> str:
        """The URL to link `path` by: `?v=` its content's hash when the file is given,
        else the hashed name of the current deployment, else the plain URL."""
        if file_path is not None:
            return versioned_url(self.base_url, path, content_hash(Path(file_path).read_bytes()))
        manifest = self.store.current()
        entry = manifest.files.get(path.lstrip("/")) if manifest else None
        if entry is not None:
            return entry.url
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def process_resource(
        self, content: bytes, file_path: str, accept_encoding: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body to send and its headers: the smallest encoding the client accepts."""
        resource = self.types.of(file_path)
        headers = {
            "Content-Type": content_type(file_path),
            "Cache-Control": resource.policy.cache_control(),
            "Vary": "Accept-Encoding",
        }
        variants = (
            compress_variants(file_path, content) if self.settings.cdn_compression_enabled else {}
        )
        encoding = choose_encoding(accept_encoding, tuple(variants))
        if encoding is not None and encoding in variants:
            headers["Content-Encoding"] = encoding
            return variants[encoding], headers
        return content, headers

    async def queue_invalidation(self, paths: list[str], *, soft: bool = False) -> str:
        """Ask the running cdn to purge `paths` (glob patterns allowed); the request's id."""
        patterns = [path for path in paths if is_pattern(path)]
        request = RequestInvalidation(
            paths=[path for path in paths if path not in patterns], patterns=patterns, soft=soft
        )
        await self._request(request)
        return str(request.request_id)

    async def invalidate_all(self, *, soft: bool = False) -> str:
        request = RequestInvalidation(everything=True, soft=soft)
        await self._request(request)
        return str(request.request_id)

    async def _request(self, request: RequestInvalidation) -> None:
        connection = await nats.connect(**self.settings.nats_options())
        try:
            topology = BusTopology(self.settings.bus_namespace)
            await publish_event(connection, topology, subjects.CDN_INVALIDATE_REQUESTED, request)
        finally:
            await connection.drain()


def get_cdn_manager(settings: CdnSettings | None = None) -> CDNManager:
    """A manager for the configured cdn (CDN_STORE_DIR, CDN_BASE_URL, NATS_URL, ...)."""
    return CDNManager(settings)
