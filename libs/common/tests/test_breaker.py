import asyncio

import pytest
from prometheus_client import REGISTRY

from revue.common.contracts.errors import CircuitOpenError
from revue.common.resilience.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(RuntimeError):
        async with breaker:
            raise RuntimeError("provider down")


async def succeed(breaker: CircuitBreaker) -> None:
    async with breaker:
        pass


def state_metric(name: str) -> float:
    return REGISTRY.get_sample_value("circuit_breaker_state", {"breaker": name})


async def test_opens_after_consecutive_failures_and_fails_fast():
    clock = Clock()
    breaker = CircuitBreaker("t-consecutive", failure_threshold=3, recovery_timeout=30, clock=clock)
    for _ in range(3):
        await fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert state_metric("t-consecutive") == 2
    with pytest.raises(CircuitOpenError) as caught:
        await succeed(breaker)
    assert caught.value.retry_after_s == pytest.approx(30)


async def test_half_open_probes_close_or_reopen():
    clock = Clock()
    breaker = CircuitBreaker(
        "t-half-open", failure_threshold=2, recovery_timeout=10, half_open_max_calls=2, clock=clock
    )
    await fail(breaker)
    await fail(breaker)
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    await fail(breaker)  # a failed probe re-opens at once
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    await succeed(breaker)
    assert breaker.state is BreakerState.HALF_OPEN
    await succeed(breaker)
    assert breaker.state is BreakerState.CLOSED
    assert state_metric("t-half-open") == 0


async def test_half_open_admits_a_bounded_number_of_probes():
    clock = Clock()
    breaker = CircuitBreaker(
        "t-probes", failure_threshold=1, recovery_timeout=1, half_open_max_calls=2, clock=clock
    )
    await fail(breaker)
    clock.now += 1
    release = asyncio.Event()

    async def probe() -> None:
        await breaker.call(release.wait)

    probes = [asyncio.create_task(probe()) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await breaker.call(asyncio.sleep, 0)
    release.set()
    await asyncio.gather(*probes)
    assert breaker.state is BreakerState.CLOSED


async def test_failure_rate_over_the_window_opens_without_consecutive_failures():
    breaker = CircuitBreaker(
        "t-rate",
        failure_threshold=100,
        failure_rate_threshold=0.5,
        window_size=10,
        minimum_calls=10,
    )
    for index in range(10):
        if index % 2:
            await fail(breaker)
        else:
            await succeed(breaker)
    assert breaker.state is BreakerState.OPEN


async def test_slow_calls_open_the_circuit():
    clock = Clock()
    breaker = CircuitBreaker(
        "t-slow",
        slow_call_duration=2.0,
        slow_call_rate_threshold=0.5,
        window_size=4,
        minimum_calls=4,
        clock=clock,
    )

    async def slow() -> None:
        clock.now += 3

    for _ in range(4):
        await breaker.call(slow)
    assert breaker.state is BreakerState.OPEN


async def test_excluded_exceptions_do_not_count():
    breaker = CircuitBreaker("t-excluded", failure_threshold=1, excluded_exceptions=(KeyError,))
    with pytest.raises(KeyError):
        async with breaker:
            raise KeyError("not the provider's fault")
    assert breaker.state is BreakerState.CLOSED


async def test_reject_if_open_refuses_only_while_open():
    clock = Clock()
    breaker = CircuitBreaker("t-reject", failure_threshold=1, recovery_timeout=10, clock=clock)
    breaker.reject_if_open()  # closed: nothing happens
    await fail(breaker)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.reject_if_open()
    assert caught.value.retry_after_s == pytest.approx(10)
    clock.now += 10
    breaker.reject_if_open()  # half-open: the probe may go on
    assert breaker.state is BreakerState.HALF_OPEN
