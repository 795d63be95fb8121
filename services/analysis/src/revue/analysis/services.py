"""The analysis service's use cases: analyse a request now, and report the figures.

Free of NATS: `entrypoints/bus.py` decodes the requests and sends the
replies. The reply is built first; recording the outcome and announcing
`analysis.completed` happen right after, off the caller's latency (not for a
refusal by the open circuit, which never reached the provider).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from revue.analysis.background import Background
from revue.analysis.engine import AnalysisEngine
from revue.analysis.jobs import JobWorker, error_info
from revue.analysis.outcomes import Outcomes
from revue.common.contracts.errors import CircuitOpenError
from revue.common.contracts.events import AnalysisReply, RunAnalysis


class AnalysisService:
    def __init__(
        self,
        engine: AnalysisEngine,
        outcomes: Outcomes,
        background: Background,
    ) -> None:
        self.engine = engine
        self.outcomes = outcomes
        self.background = background
        self.instance = f"analysis-{uuid.uuid4().hex[:8]}"  # names this replica's figures
        # Set by the bus entry points once the job worker runs (JOBS_ENABLED).
        self.job_worker: JobWorker | None = None

    async def run(self, request: RunAnalysis) -> AnalysisReply:
        """Analyse one synchronous request: the reply, with the outcome recorded after it."""
        started = time.monotonic()
        engine, outcomes = self.engine, self.outcomes
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
                self.background.spawn(
                    outcomes.completed(request, error=info, cache_key=key, duration_ms=duration_ms)
                )
            return AnalysisReply(
                job_id=request.job_id, status="failed", error=info, duration_ms=duration_ms
            )
        duration_ms = (time.monotonic() - started) * 1000
        self.background.spawn(
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

    async def stats(self) -> dict[str, Any]:
        """Batching, coalescing, breaker and queue figures (`/api/v1/metrics/batching`)."""
        engine = self.engine
        return {
            "instance": self.instance,
            "batching": {"ai_analysis": engine.batcher.get_metrics()},
            "coalescing": {
                "executions": engine.flights.executions,
                "shared": engine.flights.shared,
            },
            "breaker": {
                "state": engine.breaker.state.name.lower(),
                "retry_after_s": engine.breaker.retry_after(),
            },
            "queue": await self.job_worker.queue_stats() if self.job_worker else None,
        }
