"""Bus entry point of the cdn service: the current manifest (request/reply, queue group).

The gateway publishes the manifest at `GET /api/v1/cdn/manifest` by asking
here, so it reads no cdn table and no cdn disk. The reply is the manifest
file gzipped: a 10,000-file manifest is a few MB of JSON, over NATS's default
1 MB message limit, and a tenth of that compressed. An empty reply means
nothing is deployed yet.
"""

from __future__ import annotations

import gzip

from faststream.nats import NatsBroker

from revue.cdn.store import AssetStore
from revue.common.contracts import subjects
from revue.common.contracts.events import GetManifest
from revue.common.contracts.subjects import BusTopology


class CompressedManifest:
    """The current manifest's file, gzipped once per deployment."""

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


def register(broker: NatsBroker, topology: BusTopology, store: AssetStore) -> None:
    manifests = CompressedManifest(store)

    @broker.subscriber(topology.subject(subjects.CDN_MANIFEST), queue=subjects.CDN_QUEUE_GROUP)
    async def manifest(_: GetManifest) -> bytes:
        return manifests.current()
