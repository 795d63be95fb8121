"""Many replies, one subscription: where the answers to batched requests arrive.

nats-py's `request` opens a reply subject per call and expects one answer;
a batch of requests sent in one message needs one reply subject per request
plus one for the message. This inbox is a single wildcard subscription
(`<inbox>.*`) with a future per token: `open()` hands out a subject and the
future its answer will resolve, `forget()` drops one nobody waits for.
"""

from __future__ import annotations

import asyncio
import itertools

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class ReplyInbox:
    def __init__(self) -> None:
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()

    @property
    def started(self) -> bool:
        return self._subscription is not None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def start(self, nats: Client) -> None:
        if self._subscription is None:
            self._prefix = nats.new_inbox()
            self._subscription = await nats.subscribe(f"{self._prefix}.*", cb=self._arrived)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the gateway is shutting down"))
        self._waiting.clear()

    def open(self) -> tuple[str, asyncio.Future[Msg]]:
        """A fresh reply subject and the future its (first) message will resolve."""
        token = format(next(self._tokens), "x")
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        return f"{self._prefix}.{token}", future

    def forget(self, subject: str) -> None:
        self._waiting.pop(subject.rpartition(".")[2], None)

    def fail(self, subject: str, error: Exception) -> None:
        """Give up on an answer that will not come (the one who waits sees `error`)."""
        future = self._waiting.pop(subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_exception(error)

    async def _arrived(self, message: Msg) -> None:
        future = self._waiting.pop(message.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(message)
