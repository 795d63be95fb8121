"""What happens once an analysis has an outcome: record it, announce it.

Recording is idempotent (see `store`) and group-committed: outcomes that
finish within a few milliseconds of each other are written in one
transaction and their events published together, each carrying the trace
it began in, on `analysis.completed.sync` or `.job` by where the request
came from. And `analysis.completed` is published
with `Nats-Msg-Id: completed-<job id>`, so a job redelivered after a crash
yields one row and one event, not two, and an event whose storage was not
confirmed (the bus restarting) can be sent again. Dead letters go to `analysis.dead`
with the reason and the original payload.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from uuid import UUID

import structlog
from faststream.nats import NatsBroker
from opentelemetry import trace

from revue.analysis.adapters.sessions import AnalysisStore, Outcome
from revue.common.bus.confirmed_publish import Outgoing, publish_confirmed
from revue.common.bus.publish import publish_event
from revue.common.concurrency.batching import BatchConfig, BatchProcessor
from revue.common.contracts import subjects
from revue.common.contracts.events import (
    AnalysisCompleted,
    AnalysisDeadLettered,
    AnalysisResult,
    ErrorInfo,
    RunAnalysis,
    Usage,
    utcnow,
)
from revue.common.contracts.streams import ANALYSIS_EVENTS
from revue.common.contracts.subjects import BusTopology
from revue.common.observability.tracing import batch_span, inject_trace, send_span

log = structlog.get_logger("revue.analysis.outcomes")
tracer = trace.get_tracer("revue.analysis.outcomes")


class Outcomes:
    def __init__(self, broker: NatsBroker, topology: BusTopology, store: AnalysisStore) -> None:
        self.broker = broker
        self.topology = topology
        self.store = store
        # Group commit: a short window (even when idle) so that one
        # transaction and one round of acks serve many outcomes.
        self.writer: BatchProcessor[tuple[Outcome, str, dict[str, str]], bool] = BatchProcessor(
            self._record_and_announce,
            BatchConfig(
                max_batch_size=512,
                max_wait_time=0.01,
                max_concurrent_batches=4,
                dispatch_when_idle=False,
            ),
            name="outcome_writes",
        )

    async def start(self) -> None:
        await self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()

    async def completed(
        self,
        request: RunAnalysis,
        *,
        result: AnalysisResult | None = None,
        error: ErrorInfo | None = None,
        cache_key: str | None = None,
        duration_ms: float = 0.0,
        job: bool = False,
        spent: Usage | None = None,
        completed_at: datetime | None = None,
    ) -> bool:
        """Record and announce (`job`: it finishes a JetStream job, not an analysis.run);
        `spent` is what this request made a provider spend; `completed_at` when the
        answer was had (now if not said: a caller that records later says it). Returns
        False when the job had already been recorded."""
        outcome = Outcome(
            request, result, error, cache_key, duration_ms, spent, completed_at or utcnow()
        )
        subject = subjects.ANALYSIS_COMPLETED_JOB if job else subjects.ANALYSIS_COMPLETED_SYNC
        return await self.writer.process((outcome, self.topology.subject(subject), inject_trace()))

    async def _record_and_announce(
        self, batch: list[tuple[Outcome, str, dict[str, str]]]
    ) -> list[bool]:
        with batch_span(tracer, "record outcomes", [headers for _, _, headers in batch]):
            return await self._record_and_announce_traced(batch)

    async def _record_and_announce_traced(
        self, batch: list[tuple[Outcome, str, dict[str, str]]]
    ) -> list[bool]:
        firsts = await self.store.record_many([outcome for outcome, _, _ in batch])
        events = []
        with ExitStack() as spans:  # each send span lasts until its event is confirmed
            for outcome, subject, trace_headers in batch:
                request, result = outcome.request, outcome.result
                event = AnalysisCompleted(
                    job_id=request.job_id,
                    owner_id=request.owner_id,
                    status="succeeded" if result is not None else "failed",
                    result=result,
                    error=outcome.error,
                    cache_key=outcome.cache_key,
                    duration_ms=outcome.duration_ms,
                    completed_at=outcome.completed_at,
                )
                # Each event continues its own request's trace, not the batch's.
                carrier = spans.enter_context(send_span(tracer, subject, parent=trace_headers))
                headers = {**carrier, "Nats-Msg-Id": f"completed-{request.job_id}"}
                events.append(Outgoing(subject, event.model_dump_json().encode(), headers))
            # Every event stored before any caller goes on (a job is acked only then).
            await publish_confirmed(
                self.broker.connection.jetstream(),
                events,
                stream=self.topology.stream(ANALYSIS_EVENTS.name),
            )
        return firsts

    async def dead_letter(
        self,
        *,
        job_id: UUID | None,
        sequence: int,
        subject: str,
        reason: str,
        deliveries: int,
        payload: bytes,
    ) -> None:
        log.warning("job dead-lettered", job_id=str(job_id), reason=reason, deliveries=deliveries)
        event = AnalysisDeadLettered(
            job_id=job_id,
            subject=subject,
            reason=reason[:2000],
            deliveries=deliveries,
            payload=payload.decode("utf-8", "replace"),
        )
        await publish_event(
            self.broker.connection,
            self.topology,
            subjects.ANALYSIS_DEAD,
            event,
            # The job stream sequence is unique even for payloads with no job id.
            msg_id=f"dead-{self.topology.stream('ANALYSIS_JOBS')}-{sequence}",
        )
