"""Job status from `analysis.completed.job`: a durable consumer that finishes job rows.

Events arrive in batches (one fetch, one transaction, then the acks), so the
cost per job is a fraction of a round trip. Updates only move queued jobs to
a final state, so a replayed event changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from revue.common.bus.pull_consumer import PullConsumer, valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import AnalysisCompleted
from revue.common.contracts.streams import ANALYSIS_EVENTS
from revue.common.contracts.subjects import BusTopology
from revue.gateway.job_store import JobStore
from revue.gateway.response_cache import ResponseCache

log = structlog.get_logger("revue.gateway.job_status")


class JobStatusConsumer:
    def __init__(
        self,
        nats: Callable[[], Client],
        topology: BusTopology,
        jobs: JobStore,
        durable: str,
        responses: ResponseCache | None = None,
    ) -> None:
        self.jobs = jobs
        self.responses = responses
        self.applied = 0
        self.consumer = PullConsumer(
            nats,
            # Jobs only: a synchronous answer's row is written finished by the gateway.
            subject=topology.subject(subjects.ANALYSIS_COMPLETED_JOB),
            stream=topology.stream(ANALYSIS_EVENTS.name),
            durable=durable,
            # Delivering ALL on first creation (the default): completions that
            # happened before this gateway ever ran still reach their rows
            # (updates are idempotent).
            max_deliver=10,
            handler=self._apply,
        )
        self.start = self.consumer.start
        self.stop = self.consumer.stop

    async def _apply(self, messages: list[Msg]) -> None:
        valid = await valid_events(messages, AnalysisCompleted)
        messages = [message for message, _ in valid]
        events = [event for _, event in valid]
        try:
            self.applied += await self.jobs.complete_many(events)
        except Exception as error:  # database down: let JetStream redeliver later
            log.warning("job status update failed; will retry", error=repr(error))
            for message in messages:
                await message.nak(delay=2)
            return
        if self.responses is not None:
            await self.responses.jobs_changed(
                (event.job_id, UUID(event.owner_id)) for event in events if event.owner_id
            )
        for message in messages:
            await message.ack()
