"""Recording synchronous results off the response path, in group commits.

A synchronous analysis is answered first; its row is queued here and written
with whatever else finished within the same few milliseconds, one statement
for all. Failures are logged (the client already has the result); shutdown
waits for the queue to drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from revue.common.batching import BatchConfig, BatchProcessor
from revue.gateway.job_store import JobStore

log = structlog.get_logger("revue.gateway.recorder")
Written = Callable[[list[dict[str, Any]]], Awaitable[None]]


class ResultRecorder:
    def __init__(self, jobs: JobStore, written: Written | None = None) -> None:
        self.jobs = jobs
        self.written = written
        self.writer: BatchProcessor[dict[str, Any], None] = BatchProcessor(
            self._write,
            BatchConfig(
                max_batch_size=512,
                max_wait_time=0.01,
                max_concurrent_batches=2,
                dispatch_when_idle=False,
            ),
            name="sync_result_writes",
        )

    async def start(self) -> None:
        await self.writer.start()

    async def stop(self, timeout: float) -> None:
        await self.writer.stop(timeout)

    async def _write(self, rows: list[dict[str, Any]]) -> list[None]:
        await self.jobs.create_many(rows)
        if self.written is not None:
            await self.written(rows)
        return [None] * len(rows)

    def record(self, row: dict[str, Any]) -> None:
        self.writer.submit(row).add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("could not record a synchronous result", error=repr(future.exception()))
