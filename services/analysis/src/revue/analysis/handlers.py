"""Bus entry points of the analysis service: thin and typed.

`analysis.run` (queue group `analysis`) answers one synchronous request;
`analysis.run.batch` carries many, each answered on its own reply subject
as soon as it is done (the gateway groups the requests that arrive
together, so the per-message work and the NATS hop are paid once per
group). A client waits on both, so they are `Responder`s (nats-py, the
broker middlewares' work done in a fraction of the time; see
`revue.common.bus.responder`), each answering many requests at once so that
concurrent ones meet in the engine's micro-batches. `analysis.stats`, which
nobody waits on, is a plain FastStream subscriber.

The reply goes out first; recording the outcome and announcing
`analysis.completed` happen right after, off the caller's latency (not for
a refusal by the open circuit, which never reached the provider).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from revue.analysis.background import Background
from revue.analysis.engine import AnalysisEngine
from revue.analysis.jobs import JobWorker, error_info
from revue.analysis.outcomes import Outcomes
from revue.common.bus.responder import publish_answer
from revue.common.contracts import subjects
from revue.common.contracts.errors import CircuitOpenError
from revue.common.contracts.events import (
    AnalysisBatchAnswered,
    AnalysisReply,
    BatchedRun,
    GetAnalysisStats,
    RunAnalysis,
    RunAnalysisBatch,
)
from revue.common.observability.tracing import consumer_span
from revue.common.service import ServiceRuntime


def register(
    runtime: ServiceRuntime,
    engine: AnalysisEngine,
    outcomes: Outcomes,
    background: Background,
    worker: Callable[[], JobWorker | None],
    concurrency: int = 256,
) -> None:
    broker, topology = runtime.broker, runtime.topology
    tracer = runtime.tracer_provider.get_tracer("revue.analysis.handlers")

    @runtime.responder(
        topology.subject(subjects.ANALYSIS_RUN),
        queue=subjects.ANALYSIS_QUEUE_GROUP,
        concurrency=concurrency,
    )
    async def run_analysis(request: RunAnalysis) -> AnalysisReply:
        started = time.monotonic()
        key = engine.key_for(request)
        try:
            result = await engine.analyze(request, key)
        except Exception as error:
            info = error_info(error)
            duration_ms = (time.monotonic() - started) * 1000
            # A refusal by the open circuit never reached the provider: it is
            # answered, not recorded, or an outage would turn every refused
            # request into a database write just when things go wrong.
            if not isinstance(error, CircuitOpenError):
                background.spawn(
                    outcomes.completed(request, error=info, cache_key=key, duration_ms=duration_ms)
                )
            return AnalysisReply(
                job_id=request.job_id, status="failed", error=info, duration_ms=duration_ms
            )
        duration_ms = (time.monotonic() - started) * 1000
        background.spawn(
            outcomes.completed(request, result=result, cache_key=key, duration_ms=duration_ms)
        )
        return AnalysisReply(
            job_id=request.job_id,
            analyzer=engine.identity,
            cache_key=key,
            status="succeeded",
            result=result,
            duration_ms=duration_ms,
        )

    batch_subject = topology.subject(subjects.ANALYSIS_RUN_BATCH)

    async def answer_one(run: BatchedRun) -> None:
        # Each request of a batch continues its own trace, not the message's.
        with consumer_span(tracer, batch_subject, run.trace):
            reply = await run_analysis(run.request)
        await publish_answer(broker.connection, run.reply_to, reply)

    @runtime.responder(
        batch_subject,
        queue=subjects.ANALYSIS_QUEUE_GROUP,
        concurrency=max(1, concurrency // 16),
    )
    async def run_analyses(batch: RunAnalysisBatch) -> AnalysisBatchAnswered:
        await asyncio.gather(*(answer_one(run) for run in batch.runs))
        return AnalysisBatchAnswered(answered=len(batch.runs))

    @broker.subscriber(topology.subject(subjects.ANALYSIS_STATS), queue="analysis-stats")
    async def analysis_stats(_: GetAnalysisStats) -> dict[str, Any]:
        return {
            "batching": {"ai_analysis": engine.batcher.get_metrics()},
            "coalescing": {
                "executions": engine.flights.executions,
                "shared": engine.flights.shared,
            },
            "breaker": {
                "state": engine.breaker.state.name.lower(),
                "retry_after_s": engine.breaker.retry_after(),
            },
            "queue": await jobs.queue_stats() if (jobs := worker()) else None,
        }
