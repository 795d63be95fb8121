"""Resilience primitives: retry with backoff, circuit breaker, rate limiting.

from revue.common.resilience import retry, RetryPresets, RetryExhaustedError
from revue.common.resilience import CircuitBreaker, RateLimiter
"""

from revue.common.contracts.errors import CircuitOpenError, RetryExhaustedError
from revue.common.resilience.breaker import BreakerState, CircuitBreaker
from revue.common.resilience.ratelimit import RateLimiter, TokenBucket
from revue.common.resilience.retry import RetryConfig, RetryPresets, retry, retry_async

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "RateLimiter",
    "RetryConfig",
    "RetryExhaustedError",
    "RetryPresets",
    "TokenBucket",
    "retry",
    "retry_async",
]
