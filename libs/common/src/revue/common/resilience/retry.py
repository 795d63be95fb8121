"""Retry with exponential backoff, full jitter, a cap and a total deadline.

Built on tenacity; what this module adds is the seed's surface (`retry`,
`retry_async`, `RetryPresets`, `RetryExhaustedError` with `attempts`), the
rule that a server's `Retry-After` (an error's `retry_after_s`) is never
undercut, a deadline that no sleep may overshoot, and the seed's metrics
`retry_attempts_total{function,success}` and `retry_duration_seconds`.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

from tenacity import AsyncRetrying, RetryError, retry_if_exception

from revue.common.contracts.errors import (
    CircuitOpenError,
    ProviderRejectedError,
    RetryableProviderError,
    RetryExhaustedError,
)
from revue.common.observability.metrics import retry_attempts_total, retry_duration_seconds

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryConfig:
    """How often, how long and on what to retry."""

    max_attempts: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    deadline: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    dont_retry_on: tuple[type[BaseException], ...] = ()
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def should_retry(self, error: BaseException) -> bool:
        if isinstance(error, self.dont_retry_on):
            return False
        return isinstance(error, self.retry_on)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform between 0 and the capped exponential step."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


class RetryPresets:
    """The seed's presets; `replace(RetryPresets.AI_PROVIDER, max_attempts=2)` adapts one."""

    DEFAULT = RetryConfig()
    AI_PROVIDER = RetryConfig(
        max_attempts=5,
        initial_delay=1.0,
        max_delay=30.0,
        deadline=120.0,
        retry_on=(RetryableProviderError, TimeoutError, ConnectionError),
        dont_retry_on=(ProviderRejectedError, CircuitOpenError),
    )
    CRITICAL = RetryConfig(max_attempts=10, initial_delay=0.5, max_delay=10.0, deadline=60.0)


async def retry_async(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    config: RetryConfig = RetryPresets.DEFAULT,
    name: str | None = None,
    **kwargs: Any,
) -> T:
    """Call `fn` until it succeeds, a non-retryable error escapes, or the policy ends.

    Raises `RetryExhaustedError` (with `attempts` and `last_error`) when every
    allowed attempt failed with a retryable error.
    """
    label = name or getattr(fn, "__qualname__", "call")
    started = time.monotonic()
    try:
        # The first attempt is a plain call: nearly every call succeeds at once,
        # and tenacity's per-attempt machinery cost ~40 % of a no-op provider
        # call through the analysis engine (bench/RESULTS.md).
        try:
            result = await fn(*args, **kwargs)
        except Exception as error:
            retry_attempts_total.labels(label, "false").inc()
            if not config.should_retry(error):
                raise
            return await _retry_after(error, fn, args, kwargs, config, label, started)
        retry_attempts_total.labels(label, "true").inc()
        return result
    finally:
        retry_duration_seconds.labels(label).observe(time.monotonic() - started)


async def _retry_after(
    first: Exception,
    fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    config: RetryConfig,
    label: str,
    started: float,
) -> T:
    """Attempts 2 to `max_attempts`, through tenacity, after the first failed with `first`."""

    def remaining() -> float | None:
        return None if config.deadline is None else config.deadline - (time.monotonic() - started)

    def exhausted(attempts: int) -> bool:
        left = remaining()
        return attempts >= config.max_attempts or (left is not None and left <= 0)

    def delay_after(attempt: int, error: BaseException | None) -> float:
        delay = config.backoff(attempt)
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after:
            delay = max(delay, float(retry_after))
        left = remaining()
        return delay if left is None else max(0.0, min(delay, left))

    if exhausted(1):
        raise RetryExhaustedError(1, first) from first
    await config.sleep(delay_after(1, first))
    # tenacity counts its own attempts from 1: ours are one more.
    retrying = AsyncRetrying(
        stop=lambda state: exhausted(state.attempt_number + 1),
        wait=lambda state: delay_after(
            state.attempt_number + 1, state.outcome.exception() if state.outcome else None
        ),
        retry=retry_if_exception(config.should_retry),
        sleep=config.sleep,
        reraise=False,
    )
    try:
        async for attempt in retrying:
            with attempt:
                try:
                    result = await fn(*args, **kwargs)
                except Exception:
                    retry_attempts_total.labels(label, "false").inc()
                    raise
                retry_attempts_total.labels(label, "true").inc()
        return result
    except RetryError as given_up:
        last = given_up.last_attempt
        error = last.exception()
        raise RetryExhaustedError(last.attempt_number + 1, error) from error


def retry(
    max_attempts: int | None = None,
    initial_delay: float | None = None,
    *,
    max_delay: float | None = None,
    multiplier: float | None = None,
    deadline: float | None = None,
    retry_on: tuple[type[BaseException], ...] | None = None,
    dont_retry_on: tuple[type[BaseException], ...] | None = None,
    config: RetryConfig = RetryPresets.DEFAULT,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorator form: `@retry(max_attempts=3, initial_delay=1.0)` over an async function."""
    overrides = {
        key: value
        for key, value in {
            "max_attempts": max_attempts,
            "initial_delay": initial_delay,
            "max_delay": max_delay,
            "multiplier": multiplier,
            "deadline": deadline,
            "retry_on": retry_on,
            "dont_retry_on": dont_retry_on,
        }.items()
        if value is not None
    }
    policy = replace(config, **overrides)

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await retry_async(fn, *args, config=policy, name=fn.__qualname__, **kwargs)

        return wrapper

    return decorate
