"""Every bus entry point of the cdn service.

- `cdn.manifest`: request/reply in queue group `cdn`; the reply is the current
  manifest gzipped (the gateway serves it at `GET /api/v1/cdn/manifest`, so it
  reads no cdn table and no cdn disk); empty when nothing is deployed;
- `cdn.invalidate.requested`: a durable pull consumer on the CDN stream. A
  message is acknowledged only once its request is in Postgres (a redelivery
  of the same request id is stored once); if the database is down it is
  nak'ed and comes back. Malformed requests are logged and dropped.
"""

from __future__ import annotations

import structlog
from nats.aio.msg import Msg

from revue.cdn.services import CdnService
from revue.common.bus.pull_consumer import valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import GetManifest, RequestInvalidation
from revue.common.contracts.streams import CDN
from revue.common.service import ServiceRuntime

log = structlog.get_logger("revue.cdn.bus")
INVALIDATIONS_CONSUMER = "cdn-invalidations"


def register(runtime: ServiceRuntime, service: CdnService) -> None:
    @runtime.broker.subscriber(
        runtime.topology.subject(subjects.CDN_MANIFEST), queue=subjects.CDN_QUEUE_GROUP
    )
    async def manifest(_: GetManifest) -> bytes:
        return service.compressed_manifest.current()

    async def store_requests(messages: list[Msg]) -> None:
        for message, request in await valid_events(messages, RequestInvalidation):
            try:
                await service.store_request(request)
            except Exception as error:
                log.warning(
                    "could not store an invalidation request; will retry", error=repr(error)
                )
                await message.nak(delay=2)
                continue
            await message.ack()

    runtime.durable_consumer(
        subjects.CDN_INVALIDATE_REQUESTED, CDN, INVALIDATIONS_CONSUMER, store_requests
    )
