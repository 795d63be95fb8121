"""The cdn's use cases: deploy builds, read the manifest, queue and follow invalidations.

Free of HTTP and NATS: `entrypoints/http.py` and `entrypoints/bus.py` decode
requests and call these, and map `CdnError` to their own answers.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any
from uuid import UUID

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.archive import UnsafeArchiveError
from revue.cdn.deploy import Deployer
from revue.cdn.invalidation.dispatcher import Invalidator, is_pattern
from revue.cdn.nginx import brotli_choice, nginx_config
from revue.cdn.settings import CdnSettings
from revue.common.contracts.events import RequestInvalidation


class CdnError(Exception):
    """A request the cdn cannot carry out; `status` is the HTTP status that says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class CompressedManifest:
    """The current manifest's file, gzipped once per deployment.

    The gateway publishes the manifest by asking over the bus: a 10,000-file
    manifest is a few MB of JSON, over NATS's default 1 MB message limit, and
    a tenth of that compressed. Empty bytes mean nothing is deployed yet.
    """

    def __init__(self, store: AssetStore) -> None:
        self.store = store
        self._deployment: str | None = None
        self._body = b""

    def current(self) -> bytes:
        deployment = self.store.current_id()
        if deployment is None:
            return b""
        if deployment != self._deployment:
            raw = self.store.manifest_path(deployment).read_bytes()
            # mtime=0: the same manifest always gives the same bytes (and ETag)
            self._body, self._deployment = gzip.compress(raw, 6, mtime=0), deployment
        return self._body


class CdnService:
    def __init__(
        self,
        settings: CdnSettings,
        store: AssetStore,
        deployer: Deployer,
        invalidator: Invalidator,
    ) -> None:
        self.settings = settings
        self.store = store
        self.deployer = deployer
        self.invalidator = invalidator
        self.compressed_manifest = CompressedManifest(store)

    # --- deployments -------------------------------------------------------------------

    async def deploy_archive(self, archive: Path) -> dict[str, Any]:
        try:
            return await self.deployer.deploy_archive(archive)
        except UnsafeArchiveError as error:
            raise CdnError(422, f"archive refused: {error}") from error

    async def deployments(self) -> list[dict[str, Any]]:
        return await self.deployer.deployments.history()

    def manifest(self) -> dict[str, Any]:
        current = self.store.current()
        if current is None:
            raise CdnError(404, "nothing deployed yet")
        return current.model_dump()

    def nginx_conf(self) -> str:
        current = self.store.current()
        if current is None:
            raise CdnError(404, "nothing deployed yet")
        return nginx_config(
            current,
            self.store.root,
            self.deployer.types,
            origin=f"127.0.0.1:{self.settings.port}",
            brotli=brotli_choice(self.settings.cdn_nginx_brotli),
        )

    # --- invalidations (seed 001's queue_invalidation) ---------------------------------

    async def queue_invalidation(
        self, paths: list[str], patterns: list[str], surrogate_keys: list[str], soft: bool
    ) -> dict[str, Any]:
        if not (paths or patterns or surrogate_keys):
            raise CdnError(422, "name at least one path, pattern or surrogate key")
        # Glob patterns among the paths are patterns too (`/assets/js/app.*.js`, as in the seed).
        request, unmatched = self.invalidator.matched(
            RequestInvalidation(
                paths=[path for path in paths if not is_pattern(path)],
                patterns=[*patterns, *(path for path in paths if is_pattern(path))],
                surrogate_keys=surrogate_keys,
                soft=soft,
            )
        )
        if not (request.paths or request.patterns or request.surrogate_keys):
            raise CdnError(422, f"no deployed path matches {', '.join(unmatched)}: nothing sent")
        await self.invalidator.request(request)
        return {
            "request_id": str(request.request_id),
            "status": "pending",
            "patterns": request.patterns,
            "unmatched_patterns": unmatched,
        }

    async def invalidate_all(self, soft: bool) -> dict[str, str]:
        request = await self.invalidator.invalidate_all(soft=soft)
        return {"request_id": str(request.request_id), "status": "pending"}

    async def pending_paths(self) -> list[str]:
        return await self.invalidator.get_pending_invalidations()

    async def invalidation(self, request_id: UUID) -> dict[str, Any]:
        row = await self.invalidator.store.get(request_id)
        if row is None:
            raise CdnError(404, "no such invalidation")
        return row

    async def store_request(self, request: RequestInvalidation) -> None:
        """An invalidation asked for on the bus: stored, then purged by the loop."""
        await self.invalidator.request(request)
