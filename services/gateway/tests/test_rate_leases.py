"""Leased rate-limit tokens on real Redis: fewer round trips, never more than the limit."""

import asyncio

from redis.asyncio import Redis

from revue.gateway.rate_leases import LeasedRateLimiter
from revue.gateway.ratelimit import Policy, RateLimiter


class CountingLimiter(RateLimiter):
    """The real GCRA limiter, counting its Redis round trips."""

    calls = 0

    async def check(self, policy, identity, cost=1):
        self.calls += 1
        return await super().check(policy, identity, cost)


async def test_a_busy_client_costs_a_fraction_of_the_round_trips(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    exact = CountingLimiter(redis, prefix=redis_prefix)
    leased = LeasedRateLimiter(exact, max_lease=32, horizon=0.05)
    policy = Policy("default", per_minute=600_000, burst=10_000)
    try:
        decisions = []
        for _ in range(10):  # waves of 64 concurrent requests, as 64 connections send them
            decisions += await asyncio.gather(*(leased.check(policy, "busy") for _ in range(64)))
    finally:
        await redis.aclose()
    assert all(decision.allowed for decision in decisions)
    assert exact.calls <= len(decisions) / 8, f"{exact.calls} Redis calls for 640 requests"
    print(f"\n640 requests, {exact.calls} GCRA calls")


async def test_two_gateways_never_allow_more_than_the_limit(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    policy = Policy("default", per_minute=60, burst=50)
    first = LeasedRateLimiter(RateLimiter(redis, prefix=redis_prefix), max_lease=16)
    second = LeasedRateLimiter(RateLimiter(redis, prefix=redis_prefix), max_lease=16)
    try:
        decisions = await asyncio.gather(
            *((first if n % 2 else second).check(policy, "client") for n in range(200))
        )
        after = await first.check(policy, "client")
    finally:
        await redis.aclose()
    allowed = sum(decision.allowed for decision in decisions)
    # Every token handed out was taken in Redis; at most a lease's rest lapses per gateway.
    assert 50 - 2 * 15 <= allowed <= 50
    refused = [decision for decision in decisions if not decision.allowed]
    assert refused and all(decision.retry_after_s > 0 for decision in refused)
    assert not after.allowed


async def test_a_client_sending_one_request_at_a_time_is_limited_exactly(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    exact = CountingLimiter(redis, prefix=redis_prefix)
    leased = LeasedRateLimiter(exact, max_lease=32)
    policy = Policy("default", per_minute=60, burst=5)
    try:
        decisions = [await leased.check(policy, "steady") for _ in range(8)]
    finally:
        await redis.aclose()
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert exact.calls == 8  # one token each: no lease for a client this slow


async def test_max_lease_one_asks_redis_every_time(redis_url, redis_prefix):
    redis = Redis.from_url(redis_url)
    exact = CountingLimiter(redis, prefix=redis_prefix)
    leased = LeasedRateLimiter(exact, max_lease=1)
    policy = Policy("default", per_minute=600_000, burst=10_000)
    try:
        await asyncio.gather(*(leased.check(policy, "any") for _ in range(100)))
    finally:
        await redis.aclose()
    assert exact.calls == 100
