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

from revue.analysis.adapters.sessions import AnalysisStore
from revue.analysis.background import Background
from revue.analysis.engine import AnalysisEngine, Answer
from revue.analysis.jobs import JobWorker, error_info
from revue.analysis.outcomes import Outcomes
from revue.common.contracts.errors import CircuitOpenError
from revue.common.contracts.events import AnalysisReply, GetUsage, RunAnalysis, Usage, utcnow


def spent(answer: Answer) -> Usage | None:
    """What answering cost now: nothing when the answer came from the cache."""
    return None if answer.from_cache else answer.result.usage


class AnalysisService:
    def __init__(
        self,
        engine: AnalysisEngine,
        outcomes: Outcomes,
        background: Background,
        store: AnalysisStore,
    ) -> None:
        self.engine = engine
        self.outcomes = outcomes
        self.store = store
        self.background = background
        self.instance = f"analysis-{uuid.uuid4().hex[:8]}"  # names this replica's figures
        # Set by the bus entry points once the job worker runs (JOBS_ENABLED).
        self.job_worker: JobWorker | None = None

    async def run(self, request: RunAnalysis) -> AnalysisReply:
        """Analyse one synchronous request: the reply, with the outcome recorded after it."""
        started = time.monotonic()
        engine, outcomes = self.engine, self.outcomes
        try:
            answer = await engine.answer(request)
        except Exception as error:
            info = error_info(error)
            duration_ms = (time.monotonic() - started) * 1000
            # A refusal by the open circuit never reached the provider: it is
            # answered, not recorded, or an outage would turn every refused
            # request into a database write just when things go wrong.
            if not isinstance(error, CircuitOpenError):
                self.background.spawn(
                    outcomes.completed(
                        request,
                        error=info,
                        cache_key=engine.key_for(request),
                        duration_ms=duration_ms,
                        spent=getattr(error, "usage", None),
                    )
                )
            return AnalysisReply(
                job_id=request.job_id, status="failed", error=info, duration_ms=duration_ms
            )
        duration_ms = (time.monotonic() - started) * 1000
        self.background.spawn(  # recorded after the reply: its time is the answer's
            outcomes.completed(
                request,
                result=answer.result,
                cache_key=answer.key,
                duration_ms=duration_ms,
                spent=spent(answer),
                completed_at=utcnow(),
            )
        )
        return AnalysisReply(
            job_id=request.job_id,
            analyzer=engine.identity,
            answered_by=answer.analyzer if answer.fallback else None,
            cache_key=answer.key,
            status="succeeded",
            result=answer.result,
            cached=answer.from_cache,
            duration_ms=duration_ms,
        )

    async def usage(self, request: GetUsage) -> list[dict[str, Any]]:
        """One owner's provider calls, tokens and cost by day (the gateway's /usage)."""
        return await self.store.usage_by_day(request.owner_id, request.since, request.until)

    async def stats(self) -> dict[str, Any]:
        """Batching, coalescing, breaker and queue figures (`/api/v1/metrics/batching`)."""
        engine = self.engine
        return {
            "instance": self.instance,
            "providers": engine.describe(),
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
