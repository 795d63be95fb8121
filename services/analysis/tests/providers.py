"""Fault injection around the real builtin provider, for engine and job tests.

Not a stand-in for a real component: every successful call still goes to
the builtin analyzer; this wrapper only adds what the tests need to cause
(failures, slowness) and to observe (calls, batch sizes).
"""

import asyncio
from collections.abc import Sequence

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.common.contracts.errors import ProviderError, RetryableProviderError
from revue.common.contracts.events import AnalysisResult


class FaultInjectingProvider:
    def __init__(self, inner: BuiltinProvider, *, delay: float = 0.0) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.model = inner.model
        self.items_per_call = inner.items_per_call
        self.calls_per_minute = inner.calls_per_minute
        self.delay = delay
        self.fail_next = 0  # batch calls that raise before reaching the analyzer
        self.always_fail = False
        self.fail_items_once: set[str] = set()  # codes answered with an error, the first time
        self.calls = 0
        self.batch_sizes: list[int] = []
        self.analyzed: list[str] = []  # codes that reached the analyzer, in order

    async def analyze_batch(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]:
        self.calls += 1
        self.batch_sizes.append(len(items))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.always_fail or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise RetryableProviderError("injected provider outage", retry_after_s=0.01)
        self.analyzed.extend(item.code for item in items)
        results = list(await self.inner.analyze_batch(items))
        for index, item in enumerate(items):
            if item.code in self.fail_items_once:
                self.fail_items_once.discard(item.code)
                results[index] = RetryableProviderError("injected item fault")
        return results

    async def aclose(self) -> None:
        """The shared builtin provider is closed by its fixture."""
