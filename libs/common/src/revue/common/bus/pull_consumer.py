"""A durable JetStream pull consumer that hands batches of messages to a handler.

The loop every batch consumer needs, written once: fetch up to `batch`
messages (waiting at most a second, so stopping is prompt), give them to the
handler, keep going through NATS reconnects, and on stop finish the current
batch and unsubscribe (an open pull subscription would stall the
connection's drain); its lag is sampled into Prometheus gauges as it goes
(`consumer_lag`). Acknowledgement is always explicit: the handler acks,
naks or terminates each message; `valid_events` terminates the malformed
ones for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from revue.common.bus.consumer_lag import LagProbe
from revue.common.contracts.events import E, MalformedEventError, decode_event

log = structlog.get_logger("revue.pull_consumer")
Handler = Callable[[list[Msg]], Awaitable[None]]


async def valid_events(messages: list[Msg], model: type[E]) -> list[tuple[Msg, E]]:
    """The batch's messages that decode as `model`; the others are logged and terminated.

    A malformed message would fail the same way on every redelivery, so it is
    dropped for good rather than nak'ed.
    """
    valid = []
    for message in messages:
        try:
            valid.append((message, decode_event(model, message.data)))
        except MalformedEventError as error:
            log.warning("malformed event dropped", model=model.__name__, reason=error.reason)
            await message.term()
    return valid


class PullConsumer:
    def __init__(
        self,
        nats: Callable[[], Client],
        *,
        subject: str,
        stream: str,
        durable: str,
        handler: Handler,
        deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
        ack_wait: float = 30,
        max_deliver: int | None = None,
        batch: int = 256,
    ) -> None:
        self._nats = nats  # connected only once the service has started
        self.subject = subject
        self.stream = stream
        self.durable = durable
        self.config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=deliver_policy,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
        )
        self.handler = handler
        self.batch = batch
        self._subscription: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lag = LagProbe()

    async def start(self) -> None:
        self._subscription = (
            await self._nats()
            .jetstream()
            .pull_subscribe(
                self.subject, durable=self.durable, stream=self.stream, config=self.config
            )
        )
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def _run(self) -> None:
        while not self._stopping:
            await self._lag.sample(self._subscription)
            try:
                messages = await self._subscription.fetch(batch=self.batch, timeout=1)
            except TimeoutError:  # nats-py raises its own subclass or the builtin
                continue
            except ConnectionClosedError:
                return
            except Exception as error:  # reconnecting: keep trying, visibly
                log.warning("fetch failed", consumer=self.durable, error=repr(error))
                await asyncio.sleep(1)
                continue
            await self.handler(messages)
