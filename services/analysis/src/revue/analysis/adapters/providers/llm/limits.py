"""A provider's limits in requests and tokens per minute, as it states and enforces them.

Two buckets, refilled continuously: requests (`LLM_RPM`) and tokens
(`LLM_TPM`). A call takes one request and the tokens it may use (its prompt
and the completion it allows, `max_tokens`), as OpenAI counts it: the
provider charges `max_tokens` when the request arrives, whatever the answer
uses, so nothing is given back (giving it back sent more than the provider
admits and drew 429s, measured with the simulator); a call that used more
than that is charged the rest. The provider's own word
wins: `Retry-After` pauses every call until then, and the
`x-ratelimit-remaining-*` / `x-ratelimit-reset-*` headers bring a bucket
down to what the provider says is left, until its reset. Waiters are served
in arrival order. A limit left unset is not enforced here (the headers still
are).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def reset_seconds(value: str | None) -> float | None:
    """OpenAI's reset durations (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) or plain seconds."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = DURATION_PART.findall(value)
    if not parts or "".join(number + unit for number, unit in parts) != value.strip():
        return None
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)


class Bucket:
    """`per_minute` units a minute, at most `per_minute` at once; `level` may go negative
    when a call used more than it reserved (the debt is paid by waiting)."""

    def __init__(self, per_minute: int | None, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.level = float(per_minute or 0)
        self.updated = clock()
        self.frozen_until = 0.0  # the provider said: nothing left until then

    def refill(self) -> None:
        now = self.clock()
        if self.per_minute is not None and now >= self.frozen_until:
            start = max(self.updated, self.frozen_until)
            self.level = min(self.per_minute, self.level + (now - start) * self.per_minute / 60)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` units are there (0: now)."""
        self.refill()
        now = self.clock()
        frozen = max(0.0, self.frozen_until - now)
        if self.per_minute is None:
            return frozen
        needed = min(amount, self.per_minute)  # a call larger than the bucket waits for a full one
        if self.level >= needed:
            return frozen
        return frozen + (needed - self.level) * 60 / self.per_minute

    def take(self, amount: float) -> None:
        if self.per_minute is not None:
            self.level -= amount

    def provider_says(self, remaining: float | None, reset_s: float | None) -> None:
        self.refill()
        if remaining is None:
            return
        if self.per_minute is not None:
            self.level = min(self.level, remaining)
        if remaining <= 0 and reset_s is not None:
            self.frozen_until = max(self.frozen_until, self.clock() + reset_s)


class ProviderLimits:
    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.requests = Bucket(requests_per_minute, clock)
        self.tokens = Bucket(tokens_per_minute, clock)
        self.paused_until = 0.0
        self.waited_s = 0.0
        self._queue = asyncio.Lock()

    def wait_for(self, tokens: int) -> float:
        return max(
            self.paused_until - self.clock(),
            self.requests.wait_for(1),
            self.tokens.wait_for(tokens),
            0.0,
        )

    async def reserve(self, tokens: int) -> None:
        """Wait until one more request of `tokens` tokens is within every limit, then take it."""
        async with self._queue:  # first come, first served
            while (wait := self.wait_for(tokens)) > 0:
                self.waited_s += wait
                await asyncio.sleep(min(wait, 1.0))  # look again: a header may change things
            self.requests.take(1)
            self.tokens.take(tokens)

    def settle(self, reserved: int, used: int) -> None:
        """The tokens a call really used, against what it reserved: only a debt counts."""
        self.tokens.take(max(0, used - reserved))

    def observe(self, headers: Mapping[str, str], retry_after_s: float | None = None) -> None:
        """Believe what the provider says about its limits (every answer, errors included)."""
        if retry_after_s is not None:
            self.paused_until = max(self.paused_until, self.clock() + retry_after_s)

        def number(name: str) -> float | None:
            try:
                return float(headers[name])
            except (KeyError, ValueError):
                return None

        self.requests.provider_says(
            number("x-ratelimit-remaining-requests"),
            reset_seconds(headers.get("x-ratelimit-reset-requests")),
        )
        self.tokens.provider_says(
            number("x-ratelimit-remaining-tokens"),
            reset_seconds(headers.get("x-ratelimit-reset-tokens")),
        )
