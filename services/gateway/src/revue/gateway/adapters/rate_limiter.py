"""Rate limits shared by every gateway, in one Redis round trip.

GCRA (the generic cell rate algorithm) in a Lua script: Redis keeps one
timestamp per key (the theoretical arrival time), uses its own clock, and
decides atomically, so any number of gateways share one limit exactly. The
answer carries what the IETF RateLimit headers need: remaining requests and
seconds until the bucket is full again.

If Redis is unreachable the request is allowed and the failure counted: a
rate limiter must not take the API down with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("revue.gateway.adapters.rate_limiter")
limiter_errors_total = Counter(
    "rate_limiter_errors_total", "Rate-limit checks that failed open (Redis unavailable)"
)
limited_total = Counter("rate_limited_total", "Requests refused by a rate limit", ["policy"])

GCRA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((tolerance - (new_tat - now)) / interval), 0, new_tat - now}
"""


@dataclass(frozen=True)
class Policy:
    name: str
    per_minute: int
    burst: int

    @property
    def interval_ms(self) -> float:
        return 60_000 / self.per_minute


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: Policy
    remaining: int
    retry_after_s: float
    reset_s: float

    def headers(self) -> dict[str, str]:
        """IETF httpapi RateLimit-Policy and RateLimit fields (structured-field form)."""
        name = self.policy.name
        headers = {
            "RateLimit-Policy": f'"{name}";q={self.policy.per_minute};w=60',
            "RateLimit": f'"{name}";r={self.remaining};t={math.ceil(self.reset_s)}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class GcraRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "rl:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(GCRA)
        self._failing = False

    async def check(self, policy: Policy, identity: str, cost: int = 1) -> Decision:
        key = f"{self.prefix}{policy.name}:{identity}"
        tolerance = policy.interval_ms * policy.burst
        try:
            allowed, remaining, retry_ms, reset_ms = await self._script(
                keys=[key], args=[policy.interval_ms, tolerance, cost]
            )
        except (RedisError, OSError) as error:
            limiter_errors_total.inc()
            # Once per outage, not once per request: the counter has the volume.
            if not self._failing:
                self._failing = True
                log.warning("rate limiter unavailable; allowing", error=repr(error))
            return Decision(True, policy, policy.burst, 0.0, 0.0)
        if self._failing:
            self._failing = False
            log.info("rate limiter available again")
        decision = Decision(
            bool(allowed), policy, max(0, int(remaining)), retry_ms / 1000, reset_ms / 1000
        )
        if not decision.allowed:
            limited_total.labels(policy.name).inc()
        return decision
