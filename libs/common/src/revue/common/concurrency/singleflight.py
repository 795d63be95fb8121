"""Single-flight: concurrent calls for the same key share one execution.

The first caller's work runs in a task the group owns; every caller, the
first included, awaits it through `asyncio.shield`, so one caller giving up
(a timeout, a disconnect) never cancels the work the others wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Task[T]] = {}
        self.executions = 0
        self.shared = 0

    def __len__(self) -> int:
        return len(self._inflight)

    async def do(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        task = self._inflight.get(key)
        if task is None:
            self.executions += 1
            task = asyncio.ensure_future(work())
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._forget(key, task))
        else:
            self.shared += 1
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: an unawaited failure is not "never retrieved"
