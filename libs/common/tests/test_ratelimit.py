import asyncio
import time

import pytest

from revue.common.resilience.ratelimit import TokenBucket


async def test_burst_is_immediate_then_the_rate_applies():
    bucket = TokenBucket(rate=50, burst=10)
    started = time.monotonic()
    for _ in range(10):
        assert await bucket.acquire(timeout=0.01)
    burst_time = time.monotonic() - started
    for _ in range(10):
        await bucket.acquire()
    total = time.monotonic() - started
    assert burst_time < 0.05
    assert total >= 10 / 50 * 0.8  # ten more tokens at 50/s take about 0.2 s


async def test_acquire_gives_up_at_its_timeout():
    bucket = TokenBucket(rate=1, burst=1)
    assert await bucket.acquire(timeout=0.01)
    assert not await bucket.acquire(timeout=0.05)


async def test_asking_for_more_than_the_burst_is_an_error():
    with pytest.raises(ValueError, match="bucket of 5"):
        await TokenBucket(rate=5, burst=5).acquire(6)


async def test_concurrent_waiters_share_the_rate():
    bucket = TokenBucket(rate=100, burst=1)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(21)))
    assert time.monotonic() - started >= 0.15
