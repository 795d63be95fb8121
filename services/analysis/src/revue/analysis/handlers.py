"""Bus entry points of the analysis service: thin, typed, FastStream.

`analysis.run` (queue group `analysis`) answers the gateway's synchronous
requests; `analysis.stats` reports batching and queue figures. The reply
goes out first; recording the outcome and announcing `analysis.completed`
happen right after, off the caller's latency (not for a refusal by the open
circuit, which never reached the provider).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from faststream.nats import NatsBroker

from revue.analysis.engine import AnalysisEngine
from revue.analysis.jobs import JobWorker, error_info
from revue.analysis.outcomes import Outcomes
from revue.common import subjects
from revue.common.background import Background
from revue.common.errors import CircuitOpenError
from revue.common.events import AnalysisReply, GetAnalysisStats, RunAnalysis
from revue.common.subjects import BusTopology


def register(
    broker: NatsBroker,
    topology: BusTopology,
    engine: AnalysisEngine,
    outcomes: Outcomes,
    background: Background,
    worker: Callable[[], JobWorker | None],
    concurrency: int = 256,
) -> None:
    @broker.subscriber(topology.subject(subjects.ANALYSIS_RUN), queue=subjects.ANALYSIS_QUEUE_GROUP)
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
