"""A token bucket toward a rate-limited dependency (the AI provider, a purge API).

A thin shape over aiolimiter, whose leaky bucket of capacity `burst` draining
at `rate` per second is exactly a token bucket of that rate and burst. Adds
the seed's `acquire(timeout) -> bool` form.
"""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter


class TokenBucket:
    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst or max(1, int(rate))
        self._limiter = AsyncLimiter(self.burst, self.burst / rate)

    async def acquire(self, tokens: float = 1, timeout: float | None = None) -> bool:
        """Wait for tokens; False when `timeout` passes first."""
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")
        try:
            async with asyncio.timeout(timeout):
                await self._limiter.acquire(tokens)
        except TimeoutError:
            return False
        return True


RateLimiter = TokenBucket  # the seed's name
