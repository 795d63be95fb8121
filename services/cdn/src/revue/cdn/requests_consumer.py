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
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from revue.cdn.invalidation.dispatcher import Invalidator
from revue.common import subjects
from revue.common.events import MalformedEventError, RequestInvalidation, decode_event
from revue.common.pull_consumer import PullConsumer
from revue.common.streams import CDN
from revue.common.subjects import BusTopology

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
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30
            ),
            handler=self._store,
        )
        self.start = self.consumer.start
        self.stop = self.consumer.stop

    async def _store(self, messages: list[Msg]) -> None:
        for message in messages:
            try:
                request = decode_event(RequestInvalidation, message.data)
            except MalformedEventError as error:
                log.warning("malformed invalidation request dropped", reason=error.reason)
                await message.term()
                continue
            try:
                await self.invalidator.request(request)
            except Exception as error:
                log.warning(
                    "could not store an invalidation request; will retry", error=repr(error)
                )
                await message.nak(delay=2)
                continue
            await message.ack()
