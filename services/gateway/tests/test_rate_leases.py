"""Leased rate-limit tokens on real Redis: fewer round trips, never more than the limit."""

import asyncio

import pytest
from redis.asyncio import Redis

from revue.gateway.adapters.rate_limiter import GcraRateLimiter, Policy
from revue.gateway.rate_leases import LeasedRateLimiter


class CountingLimiter(GcraRateLimiter):
    """The real GCRA limiter, counting its Redis round trips."""

    calls = 0

    async def check(self, policy, identity, cost=1):
        self.calls += 1
        return await super().check(policy, identity, cost)


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def exact(redis, redis_prefix):
    return CountingLimiter(redis, prefix=redis_prefix)


async def test_a_busy_client_costs_a_fraction_of_the_round_trips(exact):
    leased = LeasedRateLimiter(exact, max_lease=32, horizon=0.05)
    policy = Policy("default", per_minute=600_000, burst=10_000)
    decisions = []
    for _ in range(10):  # waves of 64 concurrent requests, as 64 connections send them
        decisions += await asyncio.gather(*(leased.check(policy, "busy") for _ in range(64)))
    assert all(decision.allowed for decision in decisions)
    assert exact.calls <= len(decisions) / 8, f"{exact.calls} Redis calls for 640 requests"
    print(f"\n640 requests, {exact.calls} GCRA calls")


async def test_two_gateways_never_allow_more_than_the_limit(redis, redis_prefix):
    policy = Policy("default", per_minute=60, burst=50)
    first = LeasedRateLimiter(GcraRateLimiter(redis, prefix=redis_prefix), max_lease=16)
    second = LeasedRateLimiter(GcraRateLimiter(redis, prefix=redis_prefix), max_lease=16)
    decisions = await asyncio.gather(
        *((first if n % 2 else second).check(policy, "client") for n in range(200))
    )
    after = await first.check(policy, "client")
    allowed = sum(decision.allowed for decision in decisions)
    # Every token handed out was taken in Redis; at most a lease's rest lapses per gateway.
    assert 50 - 2 * 15 <= allowed <= 50
    refused = [decision for decision in decisions if not decision.allowed]
    assert refused and all(decision.retry_after_s > 0 for decision in refused)
    assert not after.allowed


async def test_a_client_sending_one_request_at_a_time_is_limited_exactly(exact):
    leased = LeasedRateLimiter(exact, max_lease=32)
    policy = Policy("default", per_minute=60, burst=5)
    decisions = [await leased.check(policy, "steady") for _ in range(8)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]


async def test_a_fast_sequential_client_is_leased_blocks(exact):
    leased = LeasedRateLimiter(exact, max_lease=32, horizon=0.05)
    policy = Policy("default", per_minute=6_000_000, burst=100_000)
    decisions = [await leased.check(policy, "sequential") for _ in range(500)]
    assert all(decision.allowed for decision in decisions)
    # One request at a time, each right after the last: no request ever waits
    # for a refill, so only the client's rate can size the lease.
    assert exact.calls <= 500 / 8, f"{exact.calls} Redis calls for 500 sequential requests"


async def test_a_client_slower_than_the_horizon_takes_one_token_a_call(exact):
    leased = LeasedRateLimiter(exact, max_lease=32, horizon=0.02)
    policy = Policy("default", per_minute=600_000, burst=10_000)
    for _ in range(5):
        assert (await leased.check(policy, "slow")).allowed
        await asyncio.sleep(0.05)  # the client's own pace: one request every 2.5 horizons
    assert exact.calls == 5


async def test_max_lease_one_asks_redis_every_time(exact):
    leased = LeasedRateLimiter(exact, max_lease=1)
    policy = Policy("default", per_minute=600_000, burst=10_000)
    await asyncio.gather(*(leased.check(policy, "any") for _ in range(100)))
    assert exact.calls == 100
