"""The path of one analysis request, from the entry points to a provider and back.

    request -> for each lane (the provider, then its fallbacks):
                   key -> cache -> (open circuit? next lane) -> single-flight
                   -> micro-batch -> rate limit -> breaker -> retry -> provider
               (retries used up or circuit open? next lane)

Identical requests in flight at the same time (same cache key) share one
provider call; distinct ones are micro-batched. A lane whose circuit is open
is skipped at once, and one whose retries ran out hands the request to the
next: the answer names the analyzer that gave it, and is stored under that
analyzer's key, never the first one's. A request's `timeout_s` bounds all of
it for that caller only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from prometheus_client import Counter

from revue.analysis.adapters.providers import AnalysisInput, Provider
from revue.analysis.lanes import ProviderLane
from revue.analysis.settings import AnalysisSettings
from revue.common.cache import AIResultCache
from revue.common.concurrency.singleflight import SingleFlight
from revue.common.contracts.errors import (
    CircuitOpenError,
    RetryableProviderError,
    RetryExhaustedError,
)
from revue.common.contracts.events import AnalysisResult, AnalyzerIdentity, RunAnalysis
from revue.common.seeds import register_batch_processor

log = structlog.get_logger("revue.analysis.engine")
fallbacks_total = Counter(
    "analysis_fallbacks_total",
    "Requests handed to the next provider of the chain",
    ["from_provider", "to_provider", "reason"],
)
# What hands a request to the next lane: the provider cannot answer now.
UNAVAILABLE = (CircuitOpenError, RetryExhaustedError, RetryableProviderError)


@dataclass(frozen=True, slots=True)
class Answer:
    result: AnalysisResult
    analyzer: AnalyzerIdentity  # who answered
    key: str  # the key the result is stored under (the answering analyzer's)
    from_cache: bool
    fallback: bool  # a provider after the first answered


def input_of(request: RunAnalysis) -> AnalysisInput:
    return AnalysisInput(
        code=request.code,
        language=request.language,
        rules=tuple(sorted(set(request.rules))),
        max_issues=request.max_issues,
    )


class AnalysisEngine:
    def __init__(
        self,
        providers: Provider | Sequence[Provider],
        settings: AnalysisSettings,
        cache: AIResultCache | None = None,
    ) -> None:
        chain = [providers] if not isinstance(providers, Sequence) else list(providers)
        self.settings = settings
        self.cache = cache
        self.lanes = [ProviderLane(p, settings, first=i == 0) for i, p in enumerate(chain)]
        first = self.lanes[0]
        # The first lane's: what a request's cache key is made for, and the seeds' figures.
        self.provider, self.identity = first.provider, first.identity
        self.batcher, self.breaker = first.batcher, first.breaker
        self.flights: SingleFlight[AnalysisResult] = SingleFlight()
        if cache is not None:
            cache.analyzer = self.identity  # the seeds' get_analysis finds our results
        register_batch_processor("ai_analysis", self.batcher)  # seed 000's name for it

    async def start(self) -> None:
        for lane in self.lanes:
            await lane.start()

    async def stop(self) -> None:
        for lane in self.lanes:
            await lane.stop(self.settings.shutdown_timeout)

    def describe(self) -> list[dict[str, Any]]:
        return [lane.describe() for lane in self.lanes]

    def key_for(self, request: RunAnalysis) -> str:
        return self.lanes[0].key_for(request)

    async def analyze(self, request: RunAnalysis, key: str | None = None) -> AnalysisResult:
        """The result for this request; raises ProviderError, CircuitOpenError, TimeoutError."""
        return (await self.answer(request)).result

    async def answer(self, request: RunAnalysis) -> Answer:
        item = input_of(request)
        async with asyncio.timeout(request.timeout_s):
            for position, lane in enumerate(self.lanes):
                last = position == len(self.lanes) - 1
                key = lane.key_for(request)
                if self.cache is not None:
                    cached = await self.cache.get(key)
                    if cached is not None:
                        result = AnalysisResult.model_validate(cached)
                        return Answer(result, lane.identity, key, True, position > 0)
                try:
                    # An open circuit answers now, not after a batching window.
                    lane.breaker.reject_if_open()
                    result = await self.flights.do(key, partial(self._compute, lane, key, item))
                except UNAVAILABLE as error:
                    if last:
                        raise
                    following = self.lanes[position + 1].name
                    reason = "circuit_open" if isinstance(error, CircuitOpenError) else "retries"
                    fallbacks_total.labels(lane.name, following, reason).inc()
                    log.info("provider unavailable; next", provider=lane.name, next=following)
                    continue
                return Answer(result, lane.identity, key, False, position > 0)
        raise AssertionError("unreachable: the last lane answers or raises")  # pragma: no cover

    async def cached(self, request: RunAnalysis) -> Answer | None:
        """The first analyzer's result for this request, when the cache has it."""
        if self.cache is None:
            return None
        key = self.key_for(request)
        cached = await self.cache.get(key)
        if cached is None:
            return None
        return Answer(AnalysisResult.model_validate(cached), self.identity, key, True, False)

    async def remember(self, request: RunAnalysis, result: AnalysisResult) -> Answer:
        """A result the first analyzer gave by another road (the Batch API), cached as usual."""
        key = self.key_for(request)
        if self.cache is not None:
            await self.cache.set(key, result.model_dump(mode="json"), "analysis")
        return Answer(result, self.identity, key, False, False)

    async def _compute(self, lane: ProviderLane, key: str, item: AnalysisInput) -> AnalysisResult:
        result = await lane.batcher.process(item)  # failures raise: never cached
        if self.cache is not None:
            await self.cache.set(key, result.model_dump(mode="json"), "analysis")
        return result
