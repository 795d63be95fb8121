import pytest
from prometheus_client import REGISTRY

from revue.common.contracts.errors import (
    ProviderRejectedError,
    RetryableProviderError,
    RetryExhaustedError,
)
from revue.common.resilience.retry import RetryConfig, RetryPresets, retry, retry_async


class Sleeps:
    """Records the backoff instead of spending it."""

    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def attempts(function: str, success: str) -> float:
    labels = {"function": function, "success": success}
    return REGISTRY.get_sample_value("retry_attempts_total", labels) or 0.0


async def test_retry_succeeds_after_transient_failures():
    calls = 0

    @retry(max_attempts=3, initial_delay=0.01)
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("transient")
        return "success"

    name = flaky.__qualname__
    before_fail, before_ok = attempts(name, "false"), attempts(name, "true")
    assert await flaky() == "success"
    assert calls == 3
    assert attempts(name, "false") - before_fail == 2
    assert attempts(name, "true") - before_ok == 1


async def test_exhausted_retries_report_attempts_and_last_error():
    @retry(max_attempts=3, initial_delay=0.01)
    async def always_fails() -> None:
        raise RuntimeError("permanent")

    with pytest.raises(RetryExhaustedError) as caught:
        await always_fails()
    assert caught.value.attempts == 3
    assert str(caught.value.last_error) == "permanent"


async def test_dont_retry_on_wins_over_retry_on():
    calls = 0
    sleeps = Sleeps()
    config = RetryConfig(
        max_attempts=5,
        retry_on=(Exception,),
        dont_retry_on=(ProviderRejectedError,),
        sleep=sleeps,
    )

    async def rejected() -> None:
        nonlocal calls
        calls += 1
        raise ProviderRejectedError("bad input")

    with pytest.raises(ProviderRejectedError):
        await retry_async(rejected, config=config)
    assert calls == 1
    assert sleeps.delays == []


async def test_backoff_is_capped_full_jitter_and_honours_retry_after():
    sleeps = Sleeps()
    config = RetryConfig(max_attempts=6, initial_delay=1.0, max_delay=4.0, sleep=sleeps)
    calls = 0

    async def rate_limited() -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RetryableProviderError("429", retry_after_s=7.5)
        if calls < 6:
            raise RetryableProviderError("503")
        return "ok"

    assert await retry_async(rate_limited, config=config) == "ok"
    assert len(sleeps.delays) == 5
    assert sleeps.delays[1] == 7.5  # the server's Retry-After is never undercut
    for attempt, delay in enumerate(sleeps.delays, start=1):
        if attempt != 2:
            assert 0 <= delay <= min(4.0, 2 ** (attempt - 1))


async def test_deadline_caps_the_total_time():
    sleeps = Sleeps()
    config = RetryConfig(max_attempts=100, initial_delay=10, max_delay=10, deadline=0.05)

    async def slow_failure() -> None:
        raise RetryableProviderError("503", retry_after_s=60)

    config = RetryConfig(**{**config.__dict__, "sleep": sleeps})
    with pytest.raises(RetryExhaustedError):
        await retry_async(slow_failure, config=config)
    assert all(delay <= 0.05 for delay in sleeps.delays)


async def test_ai_provider_preset_retries_transient_errors_only():
    preset = RetryPresets.AI_PROVIDER
    assert preset.should_retry(RetryableProviderError("503"))
    assert preset.should_retry(TimeoutError())
    assert not preset.should_retry(ProviderRejectedError("400"))
    assert not preset.should_retry(ValueError("bug"))
    assert RetryPresets.CRITICAL.max_attempts > preset.max_attempts - 5
