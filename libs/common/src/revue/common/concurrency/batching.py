"""Micro-batching (seed 000's `BatchProcessor`): many callers, fewer handler calls.

Callers `await process(item)`; a collector gathers items until the batch is
full (`max_batch_size`) or the first item has waited `max_wait_time`, then
hands the batch to the handler, with at most `max_concurrent_batches` in
flight. While batches run, items keep queueing, so under load batches fill
up by themselves. When nothing is running, waiting would only add latency
(there is no busy provider to wait out), so an idle processor dispatches at
once (`dispatch_when_idle`, on by default). A handler with a call budget (a
provider allowed N requests a minute) can space the batches that are not
full (`min_dispatch_interval`): as the load nears the budget, batches fill
instead of calls multiplying; a full batch never waits for the spacing.

The handler returns one value per item, in order; an `Exception` in that
list fails only its own item. A handler that raises fails its whole batch.
A caller that gives up (cancelled, timed out) is simply dropped from its
batch if it has not started yet.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

from revue.common.observability import metrics

In = TypeVar("In")
Out = TypeVar("Out")
log = structlog.get_logger("revue.batching")


@dataclass(frozen=True)
class BatchConfig:
    max_batch_size: int = 10
    max_wait_time: float = 0.2
    max_concurrent_batches: int = 5
    dispatch_when_idle: bool = True
    # The least time from one batch's dispatch to the next one's, unless the next is full.
    min_dispatch_interval: float = 0.0

    def __post_init__(self) -> None:
        if (
            self.max_batch_size < 1
            or self.max_concurrent_batches < 1
            or self.max_wait_time < 0
            or self.min_dispatch_interval < 0
        ):
            raise ValueError(f"invalid batch configuration: {self}")


@dataclass
class _Pending(Generic[In, Out]):
    item: In
    future: asyncio.Future[Out]
    enqueued_at: float


class BatchProcessor(Generic[In, Out]):
    def __init__(
        self,
        handler: Callable[[list[In]], Awaitable[Sequence[Out | BaseException]]],
        config: BatchConfig | None = None,
        name: str = "default",
    ) -> None:
        self.handler = handler
        self.config = config or BatchConfig()
        self.name = name
        self._queue: asyncio.Queue[_Pending[In, Out]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.config.max_concurrent_batches)
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._last_dispatch = float("-inf")
        self.total_requests = 0
        self.total_batches = 0
        self._dispatched = 0  # items handed to the handler (cancelled ones excluded)
        self.total_wait_time = 0.0
        self.total_processing_time = 0.0
        self.errors = 0
        self.max_wait_observed = 0.0
        # The wait batching itself adds (the collection window), apart from
        # queueing for a free slot under load; recent values, for percentiles.
        self.recent_batching_waits: deque[float] = deque(maxlen=100_000)
        # This processor's metric children, looked up once rather than per item.
        self._requests = metrics.batch_requests_total.labels(name)
        self._waits = metrics.batch_wait_seconds.labels(name)
        self._batches = metrics.batch_batches_total.labels(name)
        self._sizes = metrics.batch_size.labels(name)
        self._gain = metrics.batch_efficiency_gain.labels(name)
        self._processing = metrics.batch_processing_seconds.labels(name)
        self._errors = metrics.batch_errors_total.labels(name)

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect(), name=f"batch-{self.name}")

    async def stop(self, timeout: float = 15.0) -> None:
        """Stop taking batches, let running ones finish, fail what never started."""
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
            self._collector = None
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("batch processor stopped"))

    async def __aenter__(self) -> BatchProcessor[In, Out]:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- use ----------------------------------------------------------------------

    async def process(self, item: In) -> Out:
        return await self.submit(item)

    def submit(self, item: In) -> asyncio.Future[Out]:
        """Queue an item without waiting; the future resolves with its result."""
        if self._collector is None:
            raise RuntimeError("batch processor is not started")
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self.total_requests += 1
        self._requests.inc()
        self._queue.put_nowait(_Pending(item, future, time.monotonic()))
        return future

    def get_metrics(self) -> dict[str, Any]:
        batches = self.total_batches
        return {
            "total_requests": self.total_requests,
            "total_batches": batches,
            "avg_batch_size": round(self._dispatched / batches, 3) if batches else 0.0,
            "total_wait_time": round(self.total_wait_time, 6),
            "total_processing_time": round(self.total_processing_time, 6),
            "errors": self.errors,
            "efficiency_gain": round(self._dispatched / batches, 3) if batches else 0.0,
            "max_wait_time_observed": round(self.max_wait_observed, 6),
            "queued": self._queue.qsize(),
            "running_batches": len(self._running),
        }

    # --- internals -----------------------------------------------------------------

    async def _collect(self) -> None:
        while True:
            await self._slots.acquire()
            collecting_since = time.monotonic()
            try:
                batch = await self._next_batch()
            except BaseException:
                self._slots.release()
                raise
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(
                self._run(batch, collecting_since), name=f"batch-{self.name}-run"
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _next_batch(self) -> list[_Pending[In, Out]]:
        first = await self._queue.get()
        batch = [first]
        now = time.monotonic()
        spaced_from = self._last_dispatch + self.config.min_dispatch_interval
        idle = self.config.dispatch_when_idle and not self._running and now >= spaced_from
        deadline = now if idle else max(first.enqueued_at + self.config.max_wait_time, spaced_from)
        while len(batch) < self.config.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        self._last_dispatch = time.monotonic()
        # Callers who gave up while queued are dropped, not computed.
        return [pending for pending in batch if not pending.future.done()]

    async def _run(self, batch: list[_Pending[In, Out]], collecting_since: float) -> None:
        dispatched_at = time.monotonic()
        for pending in batch:
            waited = dispatched_at - pending.enqueued_at
            added = dispatched_at - max(pending.enqueued_at, collecting_since)
            self.total_wait_time += waited
            self.max_wait_observed = max(self.max_wait_observed, added)
            self.recent_batching_waits.append(added)
            self._waits.observe(added)
        self.total_batches += 1
        self._dispatched += len(batch)
        self._batches.inc()
        self._sizes.observe(len(batch))
        self._gain.set(self._dispatched / self.total_batches)
        try:
            results = await self.handler([pending.item for pending in batch])
            if len(results) != len(batch):
                raise RuntimeError(
                    f"batch handler returned {len(results)} results for {len(batch)} items"
                )
        except Exception as error:
            log.warning("batch failed", processor=self.name, size=len(batch), error=repr(error))
            results = [error] * len(batch)
        finally:
            self.total_processing_time += time.monotonic() - dispatched_at
            self._processing.observe(time.monotonic() - dispatched_at)
            self._slots.release()
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                self.errors += 1
                self._errors.inc()
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
