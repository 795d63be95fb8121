"""Every bus entry point of the gateway.

- `analysis.completed.job`: a durable pull consumer on ANALYSIS_EVENTS that
  finishes job rows. Events arrive in batches (one fetch, one transaction,
  then the acks), so the cost per job is a fraction of a round trip. Updates
  only move queued jobs to a final state, so a replayed event changes
  nothing. Synchronous answers (`.sync`) are not taken: their rows are
  written finished by the gateway itself.

The gateway's requests to other services (analysis, cache, cdn,
query-optimizer) go out through `adapters/`; it answers none itself.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from nats.aio.msg import Msg

from revue.common.bus.pull_consumer import valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import AnalysisCompleted
from revue.common.contracts.streams import ANALYSIS_EVENTS
from revue.common.service import ServiceRuntime
from revue.gateway.context import Gateway

log = structlog.get_logger("revue.gateway.bus")


def register(runtime: ServiceRuntime, context: Gateway) -> None:
    async def finish_jobs(messages: list[Msg]) -> None:
        valid = await valid_events(messages, AnalysisCompleted)
        messages = [message for message, _ in valid]
        events = [event for _, event in valid]
        try:
            await context.jobs.complete_many(events)
        except Exception as error:  # database down: let JetStream redeliver later
            log.warning("job status update failed; will retry", error=repr(error))
            for message in messages:
                await message.nak(delay=2)
            return
        await context.responses.jobs_changed(
            (event.job_id, UUID(event.owner_id)) for event in events if event.owner_id
        )
        for message in messages:
            await message.ack()

    runtime.durable_consumer(
        subjects.ANALYSIS_COMPLETED_JOB,
        ANALYSIS_EVENTS,
        context.settings.job_status_consumer,
        finish_jobs,
        # Delivering ALL on first creation (the default): completions that happened
        # before this gateway ever ran still reach their rows (updates are idempotent).
        max_deliver=10,
    )
