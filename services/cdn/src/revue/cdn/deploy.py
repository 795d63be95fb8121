"""A deployment from start to finish: ingest, switch, record, announce, invalidate.

Ingest runs in a worker thread (hashing and brotli 11 are CPU work), one
deployment at a time. Once the new deployment is current, the origin serves
it, a row records it, `cdn.asset.published` names the URLs that changed, and
the names that stay across deployments (HTML, the manifest, `?v=`-less
logical names) are queued for purging; hashed names never need it.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.adapters.deployments import DeploymentLog
from revue.cdn.archive import extract
from revue.cdn.ingest import IngestOptions, Progress, ingest_directory
from revue.cdn.invalidation.dispatcher import Invalidator
from revue.cdn.origin import Origin
from revue.cdn.policy import ResourceTypes
from revue.common.contracts.events import AssetPublished, RequestInvalidation

log = structlog.get_logger("revue.cdn.deploy")
Publish = Callable[[AssetPublished], Awaitable[None]]


class Deployer:
    def __init__(
        self,
        store: AssetStore,
        types: ResourceTypes,
        options: IngestOptions,
        deployments: DeploymentLog,
        origin: Origin | None,
        invalidator: Invalidator,
        publish: Publish,
    ) -> None:
        self.store, self.types, self.options = store, types, options
        self.deployments = deployments
        self.origin = origin
        self.invalidator = invalidator
        self.publish = publish
        self._one_at_a_time = asyncio.Lock()

    async def deploy_archive(self, archive: Path) -> dict:
        """Extract safely into a scratch directory (removed afterwards), then deploy it."""
        scratch = self.store.root / "incoming" / uuid.uuid4().hex
        try:
            await asyncio.to_thread(extract, archive, scratch, self.options.limits)
            return await self.deploy_directory(scratch)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def deploy_directory(self, source: Path, progress: Progress | None = None) -> dict:
        async with self._one_at_a_time:
            manifest, changed = await asyncio.to_thread(
                ingest_directory, source, self.store, self.types, self.options, progress
            )
        if self.origin is not None:  # None in the CLI: the service's origin reloads itself
            self.origin.reload()
        changed_urls = stale_urls(changed)
        await self.deployments.record(
            manifest.deployment,
            len(manifest.files),
            sum(entry.size for entry in manifest.files.values()),
            changed,
        )
        await self.publish(
            AssetPublished(deployment_id=manifest.deployment, changed_paths=changed_urls)
        )
        request = RequestInvalidation(paths=changed_urls)
        await self.invalidator.request(request)
        log.info(
            "deployment is current",
            deployment=manifest.deployment,
            files=len(manifest.files),
            changed=len(changed),
        )
        return {
            "deployment": manifest.deployment,
            "files": len(manifest.files),
            "changed_paths": changed,
            "invalidation": str(request.request_id),
            "manifest_url": "/assets/manifest.json",
        }


def stale_urls(changed: list[str]) -> list[str]:
    """URLs whose content changed under the same name: what caches may hold stale."""
    urls = ["/assets/manifest.json"]
    for path in changed:
        urls.append(f"/assets/{path}")  # the logical name (HTML, or a ?v=-less link)
    return urls
