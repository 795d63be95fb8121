"""Grouping the requests that arrive together into one message.

Like Nagle's algorithm and a database's group commit: a request goes out at
once, from its caller's task, while fewer than `in_flight` groups are out;
otherwise it waits for the next free slot and leaves with every request that
waited with it (at most `max_size`). A group holds its slot until it is
answered or for `hold` seconds, whichever comes first, so one slow request
delays the others by at most `hold`. Nothing ever waits to fill a group: a
lone request pays no delay, and groups grow only under load, where they save
the most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from revue.common.observability import metrics

Item = TypeVar("Item")


@dataclass(frozen=True)
class Grouping:
    max_size: int = 64
    in_flight: int = 4
    hold: float = 0.005


class RequestGroups(Generic[Item]):
    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[asyncio.Future[object] | None]],
        grouping: Grouping,
        name: str,
    ) -> None:
        """`send` publishes a group; it returns the future of the group's answer
        (None when it failed, having told its items) and must not raise."""
        self._send = send
        self.grouping = grouping
        self._free = grouping.in_flight
        self._waiting: list[Item] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._requests = metrics.batch_requests_total.labels(name)
        self._groups = metrics.batch_batches_total.labels(name)
        self._sizes = metrics.batch_size.labels(name)
        self.groups_sent = 0
        self.items_sent = 0

    async def submit(self, item: Item) -> None:
        self._requests.inc()
        if self._free > 0 and not self._waiting:
            self._free -= 1
            await self._dispatch([item])
        else:
            self._waiting.append(item)

    async def _dispatch(self, group: list[Item]) -> None:
        self.groups_sent += 1
        self.items_sent += len(group)
        self._groups.inc()
        self._sizes.observe(len(group))
        try:
            answered = await self._send(group)
        except BaseException:
            self._release()  # a slot is never lost, whatever `send` did
            raise
        slot = _Slot(self._release)
        if answered is None or answered.done():
            slot.release()
            return
        slot.timer = asyncio.get_running_loop().call_later(self.grouping.hold, slot.release)
        answered.add_done_callback(slot.release)

    def _release(self) -> None:
        self._free += 1
        if self._waiting:
            group = self._waiting[: self.grouping.max_size]
            del self._waiting[: self.grouping.max_size]
            self._free -= 1
            task = asyncio.get_running_loop().create_task(self._dispatch(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)


class _Slot:
    """One group's hold on a slot, given back once: on its answer or its timer."""

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back: Callable[[], None] | None = give_back
        self.timer: asyncio.TimerHandle | None = None

    def release(self, *_: object) -> None:
        if self._give_back is not None:
            give_back, self._give_back = self._give_back, None
            if self.timer is not None:
                self.timer.cancel()
            give_back()
