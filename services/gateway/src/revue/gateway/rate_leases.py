"""Leased rate-limit tokens: one Redis round trip per several requests of a busy client.

The GCRA limiter (`ratelimit`) asks Redis once per request, exactly. For a
client sending hundreds of requests a second that round trip is most of a
cached answer's cost. Here a gateway takes a *lease* of n tokens in one
GCRA call (cost n) and hands them out locally; n follows the client's
recent rate (what it sends in `horizon` seconds, at most `max_lease`), so a
client sending ten requests a second still costs one call per request and
is limited exactly.

What stays true: the limit is never exceeded, because every token handed out
was taken in Redis first. When a lease of n cannot be had, the gateway asks
for one token, so a client at its limit is refused exactly as before. What
is given up: tokens leased by one gateway and not yet used count against the
client on the others, and a lease not used within `2 x horizon` lapses, so a
client whose rate drops suddenly may lose up to `max_lease - 1` tokens. A
lease is never more than a sixteenth of the policy's burst, so a policy with a
burst under 32 is enforced token by token. One
refill per key is in flight at a time; requests arriving meanwhile wait for
it instead of going to Redis themselves.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field, replace

from revue.gateway.adapters.rate_limiter import Decision, GcraRateLimiter, Policy

MAX_KEYS = 10_000  # leases kept per gateway; lapsed ones go first
# A lease is at most this fraction of the burst: what one gateway holds unused
# then costs a client on the others little, and small limits stay exact.
BURST_SHARE = 16


@dataclass
class _Lease:
    tokens: int = 0
    expires: float = 0.0
    granted: Decision | None = None  # Redis's answer when the lease was taken
    refill: asyncio.Future[None] | None = None
    arrivals: int = 0  # requests since `since`: the client's recent rate
    waiting: int = 0  # requests waiting for the refill in flight
    since: float = field(default_factory=time.monotonic)


class LeasedRateLimiter:
    def __init__(
        self, limiter: GcraRateLimiter, max_lease: int = 32, horizon: float = 0.05
    ) -> None:
        if max_lease < 1:
            raise ValueError("max_lease must be at least 1")
        self.limiter = limiter
        self.max_lease = max_lease
        self.horizon = horizon
        self._leases: dict[str, _Lease] = {}

    async def check(self, policy: Policy, identity: str, cost: int = 1) -> Decision:
        if self.max_lease == 1 or cost != 1:
            return await self.limiter.check(policy, identity, cost)
        key = f"{policy.name}:{identity}"
        lease = self._leases.get(key) or self._new_lease(key)
        lease.arrivals += 1
        while True:
            now = time.monotonic()
            if lease.tokens > 0 and now < lease.expires and lease.granted is not None:
                lease.tokens -= 1
                return replace(lease.granted, remaining=lease.granted.remaining + lease.tokens)
            if lease.refill is None:
                return await self._refill(lease, policy, identity, now)
            lease.waiting += 1
            try:
                await asyncio.shield(lease.refill)
            finally:
                lease.waiting -= 1

    async def _refill(self, lease: _Lease, policy: Policy, identity: str, now: float) -> Decision:
        """Take a lease sized to the client's recent rate, and at least to the requests
        already waiting for it; this caller gets its first token."""
        elapsed = now - lease.since
        rate = lease.arrivals / max(elapsed, self.horizon)
        if elapsed >= self.horizon:
            # A fresh window once the old one covers a horizon. Restarting it at
            # every refill would measure one arrival per refill for ever, and a
            # client sending one request at a time, however fast, would never
            # be leased more than one token.
            lease.arrivals, lease.since = 0, now
        lease.tokens = 0  # what is left of a lapsed lease is not handed out
        demand = max(math.ceil(rate * self.horizon), lease.waiting + 1)
        size = max(1, min(self.max_lease, policy.burst // BURST_SHARE, demand))
        lease.refill = asyncio.get_running_loop().create_future()
        try:
            decision = await self.limiter.check(policy, identity, size)
            if not decision.allowed and size > 1:  # near the limit: one token, exactly
                size = 1
                decision = await self.limiter.check(policy, identity, 1)
            if decision.allowed:
                lease.tokens, lease.granted = size - 1, decision
                lease.expires = time.monotonic() + 2 * self.horizon
            return replace(decision, remaining=decision.remaining + lease.tokens)
        finally:
            lease.refill.set_result(None)
            lease.refill = None

    def _new_lease(self, key: str) -> _Lease:
        if len(self._leases) >= MAX_KEYS:
            now = time.monotonic()
            for stale in [
                k for k, v in self._leases.items() if v.refill is None and v.expires < now
            ]:
                del self._leases[stale]
            if len(self._leases) >= MAX_KEYS:  # all busy: forget the oldest
                del self._leases[next(iter(self._leases))]
        lease = self._leases[key] = _Lease()
        return lease
