"""A durable JetStream pull consumer that hands batches of messages to a handler.

The loop every batch consumer needs, written once: fetch up to `batch`
messages (waiting at most a second, so stopping is prompt), give them to the
handler, keep going through NATS reconnects, and on stop finish the current
batch and unsubscribe (an open pull subscription would stall the
connection's drain). The handler acks, naks or terminates each message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.api import ConsumerConfig

log = structlog.get_logger("revue.pull_consumer")
Handler = Callable[[list[Msg]], Awaitable[None]]


class PullConsumer:
    def __init__(
        self,
        nats: Callable[[], Client],
        *,
        subject: str,
        stream: str,
        durable: str,
        config: ConsumerConfig,
        handler: Handler,
        batch: int = 256,
    ) -> None:
        self._nats = nats  # connected only once the service has started
        self.subject = subject
        self.stream = stream
        self.durable = durable
        self.config = config
        self.handler = handler
        self.batch = batch
        self._subscription: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

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
