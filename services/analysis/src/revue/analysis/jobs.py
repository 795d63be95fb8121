"""The asynchronous path: a worker over the JetStream work queue `ANALYSIS_JOBS`.

One durable pull consumer per priority (critical, high, normal, low,
batch). Each has a fetcher that keeps a small local buffer filled; the
dispatcher always takes the most urgent buffered job first, so critical work
overtakes a backlog of lower priorities without starving them of fetches.
Fetched jobs run concurrently and therefore meet in the engine's batcher.

Per message: explicit ack on success or final failure; `nak` with a growing
delay on a transient failure (a plain nak would be redelivered at once and
burn the delivery budget in milliseconds); after `job_max_deliver`
deliveries the job is dead-lettered with its reason. While a job runs, the
worker tells JetStream it is in progress so a slow job is not redelivered,
and a worker that dies (even SIGKILL) has its jobs redelivered after
`job_ack_wait`.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.api import AckPolicy, ConsumerConfig
from opentelemetry import trace
from prometheus_client import Counter, Gauge

from revue.analysis.adapters.providers.llm.batch_api import BatchCollector, BatchUnavailableError
from revue.analysis.engine import AnalysisEngine, Answer, input_of
from revue.analysis.outcomes import Outcomes
from revue.analysis.settings import AnalysisSettings
from revue.common.bus.consumer_lag import LagProbe
from revue.common.contracts.errors import ProviderError, RetryExhaustedError, RevueError
from revue.common.contracts.events import (
    ErrorInfo,
    MalformedEventError,
    RunAnalysis,
    Usage,
    decode_event,
)
from revue.common.contracts.streams import ANALYSIS_JOBS
from revue.common.contracts.subjects import BusTopology, Priority
from revue.common.observability.tracing import consumer_span

log = structlog.get_logger("revue.analysis.jobs")
jobs_total = Counter("analysis_jobs_total", "Jobs finished by this worker", ["outcome"])
tracer = trace.get_tracer("revue.analysis.jobs")
async_queue_size = Gauge("async_queue_size", "Jobs waiting in ANALYSIS_JOBS for this consumer")
dead_letters_total = Counter(
    "analysis_dead_letters_total", "Jobs published to analysis.dead", ["cause"]
)
FETCH_WAIT = 1.0


@dataclass
class JobStats:
    completed: int = 0
    failed: int = 0
    retries: int = 0
    dead_lettered: int = 0


def error_info(error: BaseException) -> ErrorInfo:
    if isinstance(error, TimeoutError):
        return ErrorInfo(code="timeout", message="analysis timed out", retryable=True)
    if isinstance(error, RevueError):
        return ErrorInfo(
            code=error.code,
            message=error.message[:2000],
            retryable=bool(getattr(error, "retryable", False)),
            retry_after_s=error.retry_after_s,
        )
    return ErrorInfo(code="internal_error", message=type(error).__name__, retryable=True)


class JobWorker:
    def __init__(
        self,
        nats: Client,
        topology: BusTopology,
        engine: AnalysisEngine,
        outcomes: Outcomes,
        settings: AnalysisSettings,
        batch_api: BatchCollector | None = None,
    ) -> None:
        self.js = nats.jetstream()
        # `batch` priority jobs through the provider's Batch API: held while their batch
        # runs, outside the concurrency slots (they wait; they do not work).
        self.batch_api = batch_api
        self._batch_rank = list(Priority).index(Priority.BATCH)
        self._batch_held: set[asyncio.Task[None]] = set()
        self.topology = topology
        self.engine = engine
        self.outcomes = outcomes
        self.settings = settings
        self.stream = topology.stream(ANALYSIS_JOBS.name)
        self.stats = JobStats()
        self._queue: asyncio.PriorityQueue[tuple[int, int, Msg]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._prefetch = max(1, settings.job_concurrency // 2)
        self._buffered = dict.fromkeys(range(len(Priority)), 0)
        self._room = {rank: asyncio.Event() for rank in self._buffered}
        self._slots = asyncio.Semaphore(settings.job_concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: dict[Priority, Any] = {}
        self._waiting: dict[int, int] = {}  # per priority rank, from the last lag sample
        self._stopping = False

    def _via_batch_api(self, rank: int) -> bool:
        return self.batch_api is not None and self.batch_api.available and rank == self._batch_rank

    def _max_ack_pending(self, rank: int) -> int:
        pending = self.settings.job_concurrency * 4
        if self.batch_api is not None and rank == self._batch_rank:
            pending = max(pending, self.batch_api.max_jobs * 2)
        return pending

    def consumer_name(self, priority: Priority) -> str:
        return f"{self.settings.job_consumer}-{priority.value}"

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        for rank, priority in enumerate(Priority):
            subscription = await self.js.pull_subscribe(
                self.topology.job_subject(priority),
                durable=self.consumer_name(priority),
                stream=self.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self.settings.job_ack_wait,
                    # A safety net under our own dead-lettering, never reached in practice.
                    max_deliver=self.settings.job_max_deliver + 1,
                    max_ack_pending=self._max_ack_pending(rank),
                ),
            )
            self._subscriptions[priority] = subscription
            self._room[rank].set()
            self._tasks.append(
                asyncio.create_task(self._fetch(rank, subscription), name=f"fetch-{priority}")
            )
        self._tasks.append(asyncio.create_task(self._dispatch(), name="job-dispatch"))
        log.info("job worker started", consumers=len(self._subscriptions))

    async def stop(self) -> None:
        """Stop fetching, hand back what was fetched but not started, finish the rest."""
        self._stopping = True
        for event in self._room.values():
            event.set()
        if not self._tasks:
            return
        *fetchers, dispatcher = self._tasks
        dispatcher.cancel()
        # Fetchers notice `_stopping` within one fetch wait; cancelling them
        # mid-fetch would strand a pull request's messages until ack_wait.
        await asyncio.wait([*fetchers, dispatcher], timeout=FETCH_WAIT + 1)
        for task in fetchers:
            task.cancel()
        while not self._queue.empty():
            _, _, message = self._queue.get_nowait()
            await message.nak()  # at once: another worker may take it now
        if self._inflight:
            _, late = await asyncio.wait(self._inflight, timeout=self.settings.shutdown_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for subscription in self._subscriptions.values():
            await subscription.unsubscribe()
        log.info("job worker stopped", **self.stats.__dict__)

    # --- fetching and dispatching -------------------------------------------------

    async def _fetch(self, rank: int, subscription: Any) -> None:
        lag = LagProbe()
        while not self._stopping:
            info = await lag.sample(subscription)
            if info is not None:
                self._waiting[rank] = (info.num_pending or 0) + (info.num_ack_pending or 0)
                async_queue_size.set(sum(self._waiting.values()))
            room = self._prefetch - self._buffered[rank]
            if self._via_batch_api(rank):
                room = self.batch_api.max_jobs - len(self._batch_held)  # type: ignore[union-attr]
            if room <= 0:
                self._room[rank].clear()
                await self._room[rank].wait()
                continue
            try:
                messages = await subscription.fetch(batch=room, timeout=FETCH_WAIT)
            except TimeoutError:  # nats-py raises its own subclass or the builtin
                continue
            except ConnectionClosedError:
                return
            except Exception as error:  # NATS reconnecting: keep trying, visibly
                log.warning("job fetch failed", priority=rank, error=repr(error))
                await asyncio.sleep(FETCH_WAIT)
                continue
            for message in messages:
                if self._via_batch_api(rank):
                    self._hold_for_batch(rank, message)
                    continue
                self._buffered[rank] += 1
                self._queue.put_nowait((rank, next(self._order), message))

    def _hold_for_batch(self, rank: int, message: Msg) -> None:
        task = asyncio.create_task(self._handle(message), name="batch-api-job")
        self._batch_held.add(task)
        self._inflight.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._batch_held.discard(finished)
            self._inflight.discard(finished)
            self._room[rank].set()

        task.add_done_callback(done)

    async def _dispatch(self) -> None:
        while True:
            await self._slots.acquire()
            rank, _, message = await self._queue.get()
            self._buffered[rank] -= 1
            self._room[rank].set()
            task = asyncio.create_task(self._handle(message))
            self._inflight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    # --- one job ------------------------------------------------------------------

    async def _handle(self, message: Msg) -> None:
        with consumer_span(tracer, message.subject, message.headers):
            keep_alive = asyncio.create_task(self._keep_alive(message))
            try:
                await self._process(message)
            except asyncio.CancelledError:
                await message.nak()
                raise
            except Exception as error:
                await self._hand_back(message, error)
            finally:
                keep_alive.cancel()

    async def _hand_back(self, message: Msg, error: Exception) -> None:
        """The outcome could not be stored, announced or acked (the database or the
        bus went away): the job goes back to the queue. Recording is idempotent and
        the event deduplicates, so the redelivery finishes what this one began."""
        deliveries = message.metadata.num_delivered
        log.warning("job handed back", deliveries=deliveries, error=repr(error))
        self.stats.retries += 1
        try:
            await message.nak(delay=self._delay(deliveries, None))
        except Exception as nak_error:  # the bus is away: ack_wait redelivers it anyway
            log.warning("job nak failed; ack wait will redeliver", error=repr(nak_error))

    async def _keep_alive(self, message: Msg) -> None:
        while True:
            await asyncio.sleep(self.settings.job_ack_wait / 3)
            await message.in_progress()

    async def _process(self, message: Msg) -> None:
        deliveries = message.metadata.num_delivered
        try:
            request = decode_event(RunAnalysis, message.data)
        except MalformedEventError as error:
            await self._give_up(
                message, None, f"malformed job: {error.reason}", deliveries, cause="malformed"
            )
            return
        started = time.monotonic()
        key = self.engine.key_for(request)
        try:
            answer = await self._answer(request)
        except (ProviderError, RetryExhaustedError, RevueError, TimeoutError) as error:
            info = error_info(error)
            if not info.retryable:
                await self._finish(
                    message, request, key, started, error=info, spent=getattr(error, "usage", None)
                )
            elif deliveries >= self.settings.job_max_deliver:
                await self._finish(message, request, key, started, error=info, dead=deliveries)
            else:
                self.stats.retries += 1
                await message.nak(delay=self._delay(deliveries, info.retry_after_s))
            return
        except Exception as error:  # a bug, not a provider state: retry, then dead-letter
            log.exception("job failed unexpectedly", job_id=str(request.job_id))
            info = error_info(error)
            if deliveries >= self.settings.job_max_deliver:
                await self._finish(message, request, key, started, error=info, dead=deliveries)
            else:
                self.stats.retries += 1
                await message.nak(delay=self._delay(deliveries, None))
            return
        await self._finish(
            message,
            request,
            answer.key,
            started,
            result=answer.result,
            spent=None if answer.from_cache else answer.result.usage,
        )

    async def _answer(self, request: RunAnalysis) -> Answer:
        """The engine's answer; a `batch` job's from the Batch API when there is one."""
        if self.batch_api is None or request.priority is not Priority.BATCH:
            return await self.engine.answer(request)
        cached = await self.engine.cached(request)
        if cached is not None:
            return cached
        try:
            result = await self.batch_api.submit(input_of(request))
        except BatchUnavailableError:
            return await self.engine.answer(request)  # normal calls
        if isinstance(result, ProviderError):
            raise result
        return await self.engine.remember(request, result)

    def _delay(self, deliveries: int, retry_after: float | None) -> float:
        step = self.settings.job_nak_delay * 2 ** (deliveries - 1)
        delay = random.uniform(step / 2, step)  # noqa: S311 - jitter
        return min(self.settings.job_nak_max_delay, max(delay, retry_after or 0.0))

    async def _finish(
        self,
        message: Msg,
        request: RunAnalysis,
        key: str,
        started: float,
        *,
        result: Any = None,
        error: ErrorInfo | None = None,
        dead: int = 0,
        spent: Usage | None = None,
    ) -> None:
        duration_ms = (time.monotonic() - started) * 1000
        await self.outcomes.completed(
            request,
            result=result,
            error=error,
            cache_key=key,
            duration_ms=duration_ms,
            job=True,
            spent=spent,
        )
        if dead:
            reason = f"{error.code}: {error.message}" if error else "unknown"
            await self._dead_letter(message, request, reason, dead, error.code if error else None)
        if result is not None:
            self.stats.completed += 1
            jobs_total.labels("completed").inc()
        else:
            self.stats.failed += 1
            jobs_total.labels("failed").inc()
        await message.ack_sync()

    async def _give_up(
        self,
        message: Msg,
        request: RunAnalysis | None,
        reason: str,
        deliveries: int,
        cause: str | None = None,
    ) -> None:
        await self._dead_letter(message, request, reason, deliveries, cause)
        self.stats.failed += 1
        await message.term()

    async def _dead_letter(
        self,
        message: Msg,
        request: RunAnalysis | None,
        reason: str,
        deliveries: int,
        cause: str | None,
    ) -> None:
        self.stats.dead_lettered += 1
        # `cause` is an error code or "malformed": a bounded label, unlike `reason`.
        dead_letters_total.labels(cause or "unknown").inc()
        await self.outcomes.dead_letter(
            job_id=request.job_id if request else None,
            sequence=message.metadata.sequence.stream,
            subject=message.subject,
            reason=reason,
            deliveries=deliveries,
            payload=message.data,
        )

    # --- figures ------------------------------------------------------------------

    async def queue_stats(self) -> dict[str, Any]:
        pending = 0
        for priority in self._subscriptions:
            info = await self.js.consumer_info(self.stream, self.consumer_name(priority))
            pending += info.num_pending + info.num_ack_pending
        stream = await self.js.stream_info(self.stream)
        async_queue_size.set(pending)
        done = self.stats.completed + self.stats.failed
        return {
            "submitted": stream.state.last_seq,
            "completed": self.stats.completed,
            "failed": self.stats.failed,
            "retries": self.stats.retries,
            "dead_lettered": self.stats.dead_lettered,
            "batches_processed": self.engine.batcher.total_batches,
            "success_rate": round(self.stats.completed / done, 4) if done else 1.0,
            "queue": {"pending": pending, "running": len(self._inflight)},
        }
