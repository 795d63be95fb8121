"""`cdn.invalidate.requested` from JetStream -> stored invalidation requests.

A message is acknowledged only once its request is in Postgres (a
redelivery of the same request id is stored once); if the database is down
it is nak'ed and comes back. Malformed requests are logged and dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from revue.cdn.invalidation.dispatcher import Invalidator
from revue.common.bus.pull_consumer import PullConsumer, valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import RequestInvalidation
from revue.common.contracts.streams import CDN
from revue.common.contracts.subjects import BusTopology

log = structlog.get_logger("revue.cdn.requests")


class InvalidationRequests:
    def __init__(
        self,
        nats: Callable[[], Client],
        topology: BusTopology,
        invalidator: Invalidator,
        durable: str,
    ) -> None:
        self.invalidator = invalidator
        self.consumer = PullConsumer(
            nats,
            subject=topology.subject(subjects.CDN_INVALIDATE_REQUESTED),
            stream=topology.stream(CDN.name),
            durable=durable,
            handler=self._store,
        )
        self.start = self.consumer.start
        self.stop = self.consumer.stop

    async def _store(self, messages: list[Msg]) -> None:
        for message, request in await valid_events(messages, RequestInvalidation):
            try:
                await self.invalidator.request(request)
            except Exception as error:
                log.warning(
                    "could not store an invalidation request; will retry", error=repr(error)
                )
                await message.nak(delay=2)
                continue
            await message.ack()
