"""Every bus entry point of the analysis service: thin and typed.

- `analysis.run` (queue group `analysis`) answers one synchronous request;
- `analysis.run.batch` carries many, each answered on its own reply subject
  as soon as it is done (the gateway groups the requests that arrive
  together, so the per-message work and the NATS hop are paid once per
  group). A client waits on both, so they are `Responder`s (nats-py, the
  broker middlewares' work done in a fraction of the time; see
  `revue.common.bus.responder`), each answering many requests at once so
  that concurrent ones meet in the engine's micro-batches;
- `analysis.usage` (queue group `analysis`): one owner's provider calls, tokens
  and cost by day, from the analysis sessions this service owns;
- `analysis.stats`, which nobody waits on, is a plain FastStream subscriber
  with no queue group: every replica answers with its own figures;
- `analysis.jobs.<priority>`: the job worker's durable pull consumers
  (`jobs.JobWorker`: most urgent first, dead letters after the last delivery).
"""

from __future__ import annotations

import asyncio
from typing import Any

from revue.analysis.adapters.providers.llm.batch_api import BatchCollector
from revue.analysis.jobs import JobWorker
from revue.analysis.services import AnalysisService
from revue.analysis.settings import AnalysisSettings
from revue.common.bus.responder import publish_answer
from revue.common.contracts import subjects
from revue.common.contracts.events import (
    AnalysisBatchAnswered,
    AnalysisReply,
    BatchedRun,
    GetAnalysisStats,
    GetUsage,
    RunAnalysis,
    RunAnalysisBatch,
)
from revue.common.observability.tracing import consumer_span
from revue.common.service import ServiceRuntime


def register(
    runtime: ServiceRuntime,
    service: AnalysisService,
    settings: AnalysisSettings,
    batch_api: BatchCollector | None = None,
) -> None:
    """Declare every entry point; the job worker starts with the service (JOBS_ENABLED)."""
    broker, topology = runtime.broker, runtime.topology
    tracer = runtime.tracer_provider.get_tracer("revue.analysis.bus")
    concurrency = settings.request_concurrency

    @runtime.responder(
        topology.subject(subjects.ANALYSIS_RUN),
        queue=subjects.ANALYSIS_QUEUE_GROUP,
        concurrency=concurrency,
    )
    async def run_analysis(request: RunAnalysis) -> AnalysisReply:
        return await service.run(request)

    batch_subject = topology.subject(subjects.ANALYSIS_RUN_BATCH)

    async def answer_one(run: BatchedRun) -> None:
        # Each request of a batch continues its own trace, not the message's.
        with consumer_span(tracer, batch_subject, run.trace):
            reply = await service.run(run.request)
        await publish_answer(broker.connection, run.reply_to, reply)

    @runtime.responder(
        batch_subject,
        queue=subjects.ANALYSIS_QUEUE_GROUP,
        concurrency=max(1, concurrency // 16),
    )
    async def run_analyses(batch: RunAnalysisBatch) -> AnalysisBatchAnswered:
        await asyncio.gather(*(answer_one(run) for run in batch.runs))
        return AnalysisBatchAnswered(answered=len(batch.runs))

    @broker.subscriber(
        topology.subject(subjects.ANALYSIS_USAGE), queue=subjects.ANALYSIS_QUEUE_GROUP
    )
    async def usage(request: GetUsage) -> dict[str, Any]:
        return {"days": await service.usage(request)}

    # No queue group: every replica answers, and the asker adds the figures up.
    @broker.subscriber(topology.subject(subjects.ANALYSIS_STATS))
    async def analysis_stats(_: GetAnalysisStats) -> dict[str, Any]:
        return await service.stats()

    if settings.jobs_enabled:

        async def start_jobs() -> None:
            worker = JobWorker(
                runtime.nats, topology, service.engine, service.outcomes, settings, batch_api
            )
            await worker.start()
            service.job_worker = worker

        async def stop_jobs() -> None:
            if service.job_worker is not None:
                await service.job_worker.stop()

        runtime.on_startup(start_jobs)
        runtime.on_stopping(stop_jobs)
