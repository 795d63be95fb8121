"""Resilience primitives: retry with backoff, circuit breaker, rate limiting."""

from revue.common.resilience.breaker import BreakerState, CircuitBreaker
from revue.common.resilience.ratelimit import TokenBucket
from revue.common.resilience.retry import RetryConfig, RetryPresets, retry, retry_async

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "RetryConfig",
    "RetryPresets",
    "TokenBucket",
    "retry",
    "retry_async",
]
