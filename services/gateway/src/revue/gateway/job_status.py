"""Job status from `analysis.completed`: a durable consumer that finishes job rows.

Events arrive in batches (one fetch, one transaction, then the acks), so the
cost per job is a fraction of a round trip. Updates only move queued jobs to
a final state, so a replayed event changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.errors import ConnectionClosedError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from revue.common import subjects
from revue.common.events import AnalysisCompleted, MalformedEventError, decode_event
from revue.common.streams import ANALYSIS_EVENTS
from revue.common.subjects import BusTopology
from revue.gateway.job_store import JobStore

log = structlog.get_logger("revue.gateway.job_status")
BATCH = 256


class JobStatusConsumer:
    def __init__(
        self, nats: Callable[[], Client], topology: BusTopology, jobs: JobStore, durable: str
    ) -> None:
        self._nats = nats  # connected only once the service has started
        self.topology = topology
        self.jobs = jobs
        self.durable = durable
        self._task: asyncio.Task[None] | None = None
        self._subscription: Any = None
        self._stopping = False
        self.applied = 0

    async def start(self) -> None:
        subscription = (
            await self._nats()
            .jetstream()
            .pull_subscribe(
                self.topology.subject(subjects.ANALYSIS_COMPLETED),
                durable=self.durable,
                stream=self.topology.stream(ANALYSIS_EVENTS.name),
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    # ALL on first creation: completions that happened before this
                    # gateway ever ran still reach their rows (updates are idempotent).
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=30,
                    max_deliver=10,
                ),
            )
        )
        self._subscription = subscription
        self._task = asyncio.create_task(self._run(subscription), name="job-status")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._subscription is not None:
            # A pull subscription left open makes the connection's drain hang.
            await self._subscription.unsubscribe()

    async def _run(self, subscription) -> None:  # noqa: ANN001 - nats-py's PullSubscription
        while not self._stopping:
            try:
                messages = await subscription.fetch(batch=BATCH, timeout=1)
            except TimeoutError:
                continue
            except ConnectionClosedError:
                return
            except Exception as error:  # reconnecting: keep trying, visibly
                log.warning("job status fetch failed", error=repr(error))
                await asyncio.sleep(1)
                continue
            events = []
            for message in messages:
                try:
                    events.append(decode_event(AnalysisCompleted, message.data))
                except MalformedEventError as error:
                    log.warning("malformed completion event skipped", reason=error.reason)
            try:
                self.applied += await self.jobs.complete_many(events)
            except Exception as error:  # database down: let JetStream redeliver later
                log.warning("job status update failed; will retry", error=repr(error))
                for message in messages:
                    await message.nak(delay=2)
                continue
            for message in messages:
                await message.ack()
