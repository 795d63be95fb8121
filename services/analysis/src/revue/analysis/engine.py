"""The path of one analysis request, from the bus handlers to the provider.

    request -> key -> cache -> (open circuit? fail fast) -> single-flight -> batch
            -> rate limit -> breaker -> retry -> provider

Identical requests in flight at the same time (same cache key) share one
provider call; distinct ones are micro-batched; each batch waits for provider
tokens, goes through the circuit breaker and retries transient failures. A
request's `timeout_s` bounds all of it for that caller only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from revue.analysis.adapters.providers import AnalysisInput, Provider
from revue.analysis.settings import AnalysisSettings
from revue.common.cache import AIResultCache
from revue.common.concurrency.batching import BatchConfig, BatchProcessor
from revue.common.concurrency.singleflight import SingleFlight
from revue.common.contracts.errors import (
    CircuitOpenError,
    ProviderError,
    RetryableProviderError,
    RetryExhaustedError,
)
from revue.common.contracts.events import AnalysisResult, AnalyzerIdentity, RunAnalysis
from revue.common.contracts.keys import CacheKeyGenerator
from revue.common.resilience import CircuitBreaker, RetryPresets, TokenBucket, retry_async
from revue.common.seeds import register_batch_processor


class AnalysisEngine:
    def __init__(
        self,
        provider: Provider,
        settings: AnalysisSettings,
        cache: AIResultCache | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.cache = cache
        self.identity = AnalyzerIdentity(
            provider=provider.name, model=provider.model, version=provider.version
        )
        self.limiter = TokenBucket(settings.provider_rate, settings.provider_burst)
        self.breaker = CircuitBreaker(
            f"provider-{provider.name}",
            failure_threshold=settings.breaker_failure_threshold,
            recovery_timeout=settings.breaker_recovery_timeout,
            failure_rate_threshold=settings.breaker_failure_rate,
            slow_call_duration=settings.breaker_slow_call_duration,
            slow_call_rate_threshold=settings.breaker_slow_call_rate,
            window_size=settings.breaker_window,
            minimum_calls=settings.breaker_minimum_calls,
            half_open_max_calls=settings.breaker_half_open_calls,
        )
        self.retry_policy = replace(
            RetryPresets.AI_PROVIDER,
            max_attempts=settings.retry_max_attempts,
            initial_delay=settings.retry_initial_delay,
            max_delay=settings.retry_max_delay,
            deadline=settings.retry_deadline,
        )
        config = (
            BatchConfig(
                max_batch_size=settings.batch_max_size,
                max_wait_time=settings.batch_max_wait,
                max_concurrent_batches=settings.batch_max_concurrent,
            )
            if settings.batching_enabled
            else BatchConfig(
                max_batch_size=1,
                max_wait_time=0,
                max_concurrent_batches=settings.batch_max_concurrent,
            )
        )
        self.batcher: BatchProcessor[AnalysisInput, AnalysisResult] = BatchProcessor(
            self._call_provider, config, name="ai_analysis"
        )
        self.flights: SingleFlight[AnalysisResult] = SingleFlight()
        if cache is not None:
            cache.analyzer = self.identity  # the seeds' get_analysis finds our results
        register_batch_processor("ai_analysis", self.batcher)  # seed 000's name for it

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop(self.settings.shutdown_timeout)
        await self.provider.aclose()

    def key_for(self, request: RunAnalysis) -> str:
        return CacheKeyGenerator.generate_analysis_key(
            request.code,
            request.language,
            request.rules,
            max_issues=request.max_issues,
            provider=self.provider.name,
            model=self.provider.model,
            analyzer_version=self.provider.version,
        )

    async def analyze(self, request: RunAnalysis, key: str | None = None) -> AnalysisResult:
        """The result for this request; raises ProviderError, CircuitOpenError, TimeoutError."""
        item = AnalysisInput(
            code=request.code,
            language=request.language,
            rules=tuple(sorted(set(request.rules))),
            max_issues=request.max_issues,
        )
        key = key or self.key_for(request)
        async with asyncio.timeout(request.timeout_s):
            if self.cache is not None:
                cached = await self.cache.get(key)
                if cached is not None:
                    return AnalysisResult.model_validate(cached)
            # An open circuit answers now, not after a batching window.
            self.breaker.reject_if_open()
            return await self.flights.do(key, lambda: self._compute(key, item))

    async def _compute(self, key: str, item: AnalysisInput) -> AnalysisResult:
        result = await self.batcher.process(item)  # failures raise: never cached
        if self.cache is not None:
            await self.cache.set(key, result.model_dump(mode="json"), "analysis")
        return result

    async def _call_provider(
        self, items: list[AnalysisInput]
    ) -> Sequence[AnalysisResult | ProviderError]:
        """One batch through rate limit, breaker and retry.

        A retry re-sends only the items that failed with a retryable error:
        a provider that answers per item (the OpenAI one makes one HTTP call
        per item) can fail a few items of a batch, and those deserve the same
        retries as a whole failed batch.
        """
        for start in range(0, len(items), self.limiter.burst):
            await self.limiter.acquire(min(self.limiter.burst, len(items) - start))
        answers: list[AnalysisResult | ProviderError | None] = [None] * len(items)
        pending = list(range(len(items)))

        async def attempt() -> None:
            nonlocal pending
            batch = [items[i] for i in pending]
            results = await self.breaker.call(self.provider.analyze_batch, batch)
            for index, result in zip(pending, results, strict=True):
                answers[index] = result
            pending = [i for i in pending if isinstance(answers[i], RetryableProviderError)]
            if pending:
                raise answers[pending[0]]  # type: ignore[misc]

        try:
            await retry_async(
                attempt, config=self.retry_policy, name=f"{self.provider.name}.analyze_batch"
            )
        except (RetryExhaustedError, RetryableProviderError, CircuitOpenError):
            if any(answer is None for answer in answers):
                raise  # no attempt got any answer: the whole batch failed
        return [answer for answer in answers if answer is not None]
