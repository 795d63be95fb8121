"""One provider with everything that guards it: a lane of the fallback chain.

    items -> micro-batch -> rate limit -> circuit breaker -> retry -> provider

Each lane has its own breaker, rate limit, retry policy and micro-batcher,
and its own figures (the batcher is named `ai_analysis` for the first lane,
`ai_analysis_<provider>` for a fallback), so an outage of one provider
opens one circuit and the next lane is judged on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from revue.analysis.adapters.providers import AnalysisInput, Provider
from revue.analysis.settings import AnalysisSettings
from revue.common.concurrency.batching import BatchConfig, BatchProcessor
from revue.common.contracts.errors import (
    CircuitOpenError,
    ProviderError,
    RetryableProviderError,
    RetryExhaustedError,
)
from revue.common.contracts.events import AnalysisResult, AnalyzerIdentity, RunAnalysis, Usage
from revue.common.contracts.keys import CacheKeyGenerator
from revue.common.resilience import CircuitBreaker, RetryPresets, TokenBucket, retry_async


def added(first: Usage | None, second: Usage | None) -> Usage | None:
    """Two attempts' usage as one: an item retried after a failed call pays for both."""
    if first is None or second is None:
        return first or second
    costs = (first.cost_usd, second.cost_usd)
    return Usage(
        model=second.model or first.model,
        calls=first.calls + second.calls,
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        completion_tokens=first.completion_tokens + second.completion_tokens,
        cached_prompt_tokens=first.cached_prompt_tokens + second.cached_prompt_tokens,
        cost_usd=None if None in costs else sum(c for c in costs if c is not None),
        packed=first.packed or second.packed,
    )


def with_usage(
    answer: AnalysisResult | ProviderError, earlier: Usage | None
) -> AnalysisResult | ProviderError:
    if earlier is None:
        return answer
    if isinstance(answer, AnalysisResult):
        return answer.model_copy(update={"usage": added(earlier, answer.usage)})
    answer.usage = added(earlier, answer.usage)  # type: ignore[arg-type]
    return answer


class ProviderLane:
    def __init__(self, provider: Provider, settings: AnalysisSettings, first: bool) -> None:
        self.provider = provider
        self.name = provider.name
        self.identity = AnalyzerIdentity(
            provider=provider.name, model=provider.model, version=provider.version
        )
        self.limiter = TokenBucket(settings.provider_rate, settings.provider_burst)
        self.breaker = CircuitBreaker(
            f"provider-{provider.name}" + ("" if first else "-fallback"),
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
        per_call = provider.items_per_call or settings.batch_max_size
        # Half the provider's request budget for batches that are not full: the rest is
        # headroom for full packs and retries.
        spacing = 120 / provider.calls_per_minute if provider.calls_per_minute else 0.0
        config = (
            BatchConfig(
                max_batch_size=min(settings.batch_max_size, per_call),
                max_wait_time=settings.batch_max_wait,
                max_concurrent_batches=settings.batch_max_concurrent,
                min_dispatch_interval=spacing,
            )
            if settings.batching_enabled
            else BatchConfig(
                max_batch_size=1,
                max_wait_time=0,
                max_concurrent_batches=settings.batch_max_concurrent,
            )
        )
        self.batcher: BatchProcessor[AnalysisInput, AnalysisResult] = BatchProcessor(
            self._call_provider, config, name="ai_analysis" if first else f"ai_analysis_{self.name}"
        )

    def key_for(self, request: RunAnalysis) -> str:
        return CacheKeyGenerator.generate_analysis_key(
            request.code,
            request.language,
            request.rules,
            max_issues=request.max_issues,
            provider=self.identity.provider,
            model=self.identity.model,
            analyzer_version=self.identity.version,
        )

    async def start(self) -> None:
        start = getattr(self.provider, "start", None)  # a local model starts its server
        if start is not None:
            await start()
        await self.batcher.start()

    async def stop(self, timeout: float) -> None:
        await self.batcher.stop(timeout)
        await self.provider.aclose()

    def describe(self) -> dict[str, Any]:
        described = getattr(self.provider, "describe", None)
        return {
            **(described() if described else {"provider": self.name}),
            "breaker": self.breaker.state.name.lower(),
        }

    async def _call_provider(
        self, items: list[AnalysisInput]
    ) -> Sequence[AnalysisResult | ProviderError]:
        """One batch through rate limit, breaker and retry.

        A retry re-sends only the items that failed with a retryable error (a
        chat provider can fail a few items of a batch), and what the failed
        attempts at an item cost is added to its final answer's usage.
        """
        for start in range(0, len(items), self.limiter.burst):
            await self.limiter.acquire(min(self.limiter.burst, len(items) - start))
        answers: list[AnalysisResult | ProviderError | None] = [None] * len(items)
        spent: list[Usage | None] = [None] * len(items)
        pending = list(range(len(items)))

        async def attempt() -> None:
            nonlocal pending
            batch = [items[i] for i in pending]
            results = await self.breaker.call(self.provider.analyze_batch, batch)
            for index, result in zip(pending, results, strict=True):
                if isinstance(result, RetryableProviderError):  # tried again: keep its cost
                    spent[index] = added(spent[index], result.usage)  # type: ignore[arg-type]
                    result.usage = spent[index]
                    answers[index] = result
                else:
                    answers[index] = with_usage(result, spent[index])
            pending = [i for i in pending if isinstance(answers[i], RetryableProviderError)]
            if pending:
                raise answers[pending[0]]  # type: ignore[misc]

        try:
            await retry_async(attempt, config=self.retry_policy, name=f"{self.name}.analyze_batch")
        except (RetryExhaustedError, RetryableProviderError, CircuitOpenError):
            if any(answer is None for answer in answers):
                raise  # no attempt got any answer: the whole batch failed
        return [answer for answer in answers if answer is not None]
