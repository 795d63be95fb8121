"""Recording synchronous results off the response path, in group commits.

A synchronous analysis is answered first; its row is queued here and written
with whatever else finished within the same few milliseconds, one COPY for
all. Nobody waits for a row, so there is no future per row (the
`BatchProcessor` a caller awaits cost more than the COPY itself): rows go
into a buffer that a writer task empties, at most `max_writers` COPYs in
flight. Failures are counted and logged (the client already has its
result); shutdown writes what is buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from revue.gateway.adapters.jobs import JobStore

log = structlog.get_logger("revue.gateway.recorder")
Written = Callable[[list[dict[str, Any]]], Awaitable[None]]

rows_recorded_total = Counter(
    "gateway_sync_results_recorded_total",
    "Synchronous results written to the jobs table, by outcome",
    ["outcome"],
)
recorder_pending = Gauge(
    "gateway_sync_results_pending", "Synchronous results answered and not yet written"
)
RECORDED, LOST = rows_recorded_total.labels("written"), rows_recorded_total.labels("failed")


class ResultRecorder:
    def __init__(
        self,
        jobs: JobStore,
        written: Written | None = None,
        *,
        max_rows: int = 512,
        max_wait: float = 0.05,
        max_writers: int = 2,
    ) -> None:
        """`max_wait`: how long a result may wait to be readable by id; a longer wait
        means fewer, larger COPYs (and response-cache invalidations) under load."""
        self.jobs = jobs
        self.written = written
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._rows: list[dict[str, Any]] = []
        self._due = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._writers = asyncio.Semaphore(max_writers)
        self._writes: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sync-result-recorder")

    async def stop(self, timeout: float) -> None:
        """Write what is buffered and wait for the writes in flight, within `timeout`."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._timer is not None:
            self._timer.cancel()
        try:
            await asyncio.wait_for(self._drain(), timeout)
        except TimeoutError:
            log.error("shutdown left synchronous results unwritten", rows=len(self._rows))

    async def _drain(self) -> None:
        await self._write_buffered()
        if self._writes:
            await asyncio.wait(self._writes)

    def record(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        recorder_pending.inc()
        if len(self._rows) >= self.max_rows:
            self._due.set()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait, self._due.set)

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            await self._write_buffered()

    async def _write_buffered(self) -> None:
        """Hand the buffer to writers, a block of `max_rows` each, as writer slots free up."""
        while self._rows:
            await self._writers.acquire()  # released by the write
            rows, self._rows = self._rows[: self.max_rows], self._rows[self.max_rows :]
            task = asyncio.create_task(self._write(rows), name="sync-result-copy")
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            await self.jobs.create_many(rows)
            RECORDED.inc(len(rows))
        except Exception as error:
            LOST.inc(len(rows))
            log.error("could not record synchronous results", rows=len(rows), error=repr(error))
            return
        finally:
            recorder_pending.dec(len(rows))
            self._writers.release()
        if self.written is not None:
            try:
                await self.written(rows)
            except Exception as error:  # the rows are stored; only the announcement failed
                log.error("recorded results not announced", rows=len(rows), error=repr(error))
