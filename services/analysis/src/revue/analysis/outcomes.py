"""What happens once an analysis has an outcome: record it, announce it.

Recording is idempotent (see `store`) and group-committed: outcomes that
finish together are written in one transaction. And `analysis.completed` is published
with `Nats-Msg-Id: completed-<job id>`, so a job redelivered after a crash
yields one row and one event, not two. Dead letters go to `analysis.dead`
with the reason and the original payload.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from faststream.nats import NatsBroker

from revue.analysis.batching import BatchConfig, BatchProcessor
from revue.analysis.store import AnalysisStore, Outcome
from revue.common import subjects
from revue.common.events import (
    AnalysisCompleted,
    AnalysisDeadLettered,
    AnalysisResult,
    ErrorInfo,
    RunAnalysis,
)
from revue.common.streams import ANALYSIS_DEAD, ANALYSIS_EVENTS
from revue.common.subjects import BusTopology

log = structlog.get_logger("revue.analysis.outcomes")


class Outcomes:
    def __init__(self, broker: NatsBroker, topology: BusTopology, store: AnalysisStore) -> None:
        self.broker = broker
        self.topology = topology
        self.store = store
        # Group commit: outcomes finishing together share one transaction.
        self.writer: BatchProcessor[Outcome, bool] = BatchProcessor(
            store.record_many,
            BatchConfig(max_batch_size=256, max_wait_time=0.002, max_concurrent_batches=4),
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
    ) -> bool:
        """Record and announce; returns False when the job had already been recorded."""
        first = await self.writer.process(Outcome(request, result, error, cache_key, duration_ms))
        event = AnalysisCompleted(
            job_id=request.job_id,
            owner_id=request.owner_id,
            status="succeeded" if result is not None else "failed",
            result=result,
            error=error,
            cache_key=cache_key,
            duration_ms=duration_ms,
        )
        await self.broker.publish(
            event,
            self.topology.subject(subjects.ANALYSIS_COMPLETED),
            stream=self.topology.stream(ANALYSIS_EVENTS.name),
            headers={"Nats-Msg-Id": f"completed-{request.job_id}"},
        )
        return first

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
        await self.broker.publish(
            event,
            self.topology.subject(subjects.ANALYSIS_DEAD),
            stream=self.topology.stream(ANALYSIS_DEAD.name),
            # The job stream sequence is unique even for payloads with no job id.
            headers={"Nats-Msg-Id": f"dead-{self.topology.stream('ANALYSIS_JOBS')}-{sequence}"},
        )
