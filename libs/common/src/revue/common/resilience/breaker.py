"""A circuit breaker with resilience4j's semantics, usable as `async with breaker:`.

Closed: calls pass; outcomes go into a sliding window of the last
`window_size` calls. The circuit opens on `failure_threshold` consecutive
failures, or, once `minimum_calls` are in the window, when the failure rate
or the slow-call rate reaches its threshold. Open: calls fail fast with
`CircuitOpenError` carrying the time left, until `recovery_timeout` passes.
Half-open: at most `half_open_max_calls` probes run; one failure re-opens,
that many successes close.
"""

from __future__ import annotations

import contextvars
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar

import structlog

from revue.common.contracts.errors import CircuitOpenError
from revue.common.observability.metrics import (
    breaker_rejections_total,
    breaker_state,
    breaker_transitions_total,
)

T = TypeVar("T")
log = structlog.get_logger("revue.breaker")


class BreakerState(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        name: str = "default",
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        failure_rate_threshold: float = 0.5,
        slow_call_rate_threshold: float = 1.0,
        slow_call_duration: float = 10.0,
        window_size: int = 20,
        minimum_calls: int = 10,
        half_open_max_calls: int = 3,
        expected_exception: tuple[type[BaseException], ...] = (Exception,),
        excluded_exceptions: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.failure_rate_threshold = failure_rate_threshold
        self.slow_call_rate_threshold = slow_call_rate_threshold
        self.slow_call_duration = slow_call_duration
        self.minimum_calls = minimum_calls
        self.half_open_max_calls = half_open_max_calls
        self.expected_exception = expected_exception
        self.excluded_exceptions = excluded_exceptions
        self.clock = clock
        self._window: deque[tuple[bool, bool]] = deque(maxlen=window_size)  # (failed, slow)
        self._consecutive_failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        # Per task, so concurrent `async with breaker:` blocks time their own calls.
        self._call_started: contextvars.ContextVar[float] = contextvars.ContextVar(
            f"breaker_{name}_started"
        )
        breaker_state.labels(name).set(0)

    # --- state ----------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self.retry_after() == 0:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.recovery_timeout - self.clock())

    def _transition(self, to: BreakerState) -> None:
        if to is self._state:
            return
        log.warning("circuit breaker state change", breaker=self.name, to=to.name.lower())
        self._state = to
        breaker_state.labels(self.name).set(to.value)
        breaker_transitions_total.labels(self.name, to.name.lower()).inc()
        if to is BreakerState.OPEN:
            self._opened_at = self.clock()
        self._probes_in_flight = 0
        self._probe_successes = 0
        if to is BreakerState.CLOSED:
            self._window.clear()
            self._consecutive_failures = 0

    def reset(self) -> None:
        self._transition(BreakerState.CLOSED)

    # --- calls ----------------------------------------------------------------

    def reject_if_open(self) -> None:
        """Fail fast, before queueing work that the open circuit would refuse anyway.

        Only OPEN refuses here: in HALF_OPEN the call goes on, and the probe
        budget is applied when it reaches the breaker.
        """
        if self.state is BreakerState.OPEN:
            self._refuse()

    def _refuse(self) -> None:
        breaker_rejections_total.labels(self.name).inc()
        raise CircuitOpenError(
            f"circuit {self.name!r} is open", retry_after_s=max(self.retry_after(), 0.001)
        )

    def _permit(self) -> None:
        state = self.state
        if state is BreakerState.OPEN or (
            state is BreakerState.HALF_OPEN and self._probes_in_flight >= self.half_open_max_calls
        ):
            self._refuse()
        if state is BreakerState.HALF_OPEN:
            self._probes_in_flight += 1

    def _record(self, failed: bool, duration: float) -> None:
        slow = duration >= self.slow_call_duration
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            if failed or slow:
                self._transition(BreakerState.OPEN)
                return
            self._probe_successes += 1
            if self._probe_successes >= self.half_open_max_calls:
                self._transition(BreakerState.CLOSED)
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call that started before the circuit opened
        self._window.append((failed, slow))
        self._consecutive_failures = self._consecutive_failures + 1 if failed else 0
        if self._consecutive_failures >= self.failure_threshold or self._rates_exceeded():
            self._transition(BreakerState.OPEN)

    def _rates_exceeded(self) -> bool:
        calls = len(self._window)
        if calls < self.minimum_calls:
            return False
        failures = sum(1 for failed, _ in self._window if failed)
        slow = sum(1 for _, is_slow in self._window if is_slow)
        return (
            failures / calls >= self.failure_rate_threshold
            or slow / calls >= self.slow_call_rate_threshold
        )

    def _counts_as_failure(self, error: BaseException | None) -> bool:
        if error is None or isinstance(error, self.excluded_exceptions):
            return False
        return isinstance(error, self.expected_exception)

    async def __aenter__(self) -> CircuitBreaker:
        self._permit()
        self._call_started.set(self.clock())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        started = self._call_started.get(self.clock())
        self._record(self._counts_as_failure(exc), self.clock() - started)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run `fn` under the breaker (safe for concurrent calls)."""
        self._permit()
        started = self.clock()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as error:
            self._record(self._counts_as_failure(error), self.clock() - started)
            raise
        self._record(False, self.clock() - started)
        return result
