"""Invalidation watermarks: a result computed before an invalidation is not stored after it.

The cache service writes each finished analysis through from its completion
event, which may arrive after the client has its answer and after an
administrator invalidated that very entry: stored then, the invalidation
would be undone. So every invalidation leaves in Redis when it happened, by
key, by prefix and by tag, and a write that says when its value was
computed (`computed_at`) is skipped if an invalidation covering it came
later.

The check and the write are one Lua script, so no invalidation can fall
between them: either the write comes first and the invalidation deletes
what it wrote, or the mark comes first and the write sees it.

Keys' marks are Redis strings with their own expiry; prefixes and tags are
the fields of one hash each (invalidations by prefix or tag are few: an
administrator's act), pruned when a mark is added. A mark lives as long as
the longest TTL an entry can have: an older result could not be in the
cache anyway. Redis down: no mark is written or read, and the write goes
ahead (as every L2 failure, it degrades; it never fails the caller).
Times are the writers' clocks: hosts out of step by more than the delay
between a result and its event could let a stale one through.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from redis.asyncio import Redis

MARK_TTL = 7 * 86_400  # the longest TTL an entry has (config.TTLPolicy: embeddings)
# KEYS: the entry, the key's mark, the prefixes' hash, the tags' hash, then each tag's set.
# ARGV: the value, its TTL, when it was computed (ms), the key, a tag set's TTL, the tags.
STORE_UNLESS_INVALIDATED = """
local computed = tonumber(ARGV[3])
local mark = redis.call('GET', KEYS[2])
if mark and tonumber(mark) >= computed then return 0 end
local prefixes = redis.call('HGETALL', KEYS[3])
for i = 1, #prefixes, 2 do
  local prefix = prefixes[i]
  if string.sub(ARGV[4], 1, #prefix) == prefix and tonumber(prefixes[i + 1]) >= computed then
    return 0
  end
end
for i = 6, #ARGV do
  local at = redis.call('HGET', KEYS[4], ARGV[i])
  if at and tonumber(at) >= computed then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 5, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
return 1
"""


class Watermarks:
    def __init__(self, redis: Redis, prefix: str, tag_ttl: int, ttl: int = MARK_TTL) -> None:
        self.redis = redis
        self.ttl = ttl
        self.tag_ttl = tag_ttl
        self._store = redis.register_script(STORE_UNLESS_INVALIDATED)
        self._key = f"{prefix}invalidated:key:"
        self._prefixes = f"{prefix}invalidated:prefixes"
        self._tags = f"{prefix}invalidated:tags"

    async def mark(self, keys: Iterable[str], prefixes: Iterable[str], tags: Iterable[str]) -> None:
        """Record that these were invalidated now (epoch milliseconds, rounded up: a result
        computed in the same millisecond, before this, still counts as older)."""
        now = math.ceil(time.time() * 1000)
        keys, prefixes, tags = list(keys), list(prefixes), list(tags)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(self._key + key, now, ex=self.ttl)
            for name, fields in ((self._prefixes, prefixes), (self._tags, tags)):
                if fields:
                    pipe.hset(name, mapping=dict.fromkeys(fields, now))
                    pipe.expire(name, self.ttl)
            await pipe.execute()
        for name, fields in ((self._prefixes, prefixes), (self._tags, tags)):
            if fields:
                await self._prune(name, now)

    async def store_unless_invalidated(
        self,
        names: tuple[str, list[str]],
        key: str,
        value: bytes,
        ttl: int,
        tags: list[str],
        computed_at: float,
    ) -> bool:
        """Write the entry (under `names`: its own and its tags' sets, with `tag_ttl`) unless
        an invalidation covering it came at or after `computed_at` (epoch seconds)."""
        entry, tag_sets = names
        stored = await self._store(
            keys=[entry, self._key + key, self._prefixes, self._tags, *tag_sets],
            args=[value, ttl, math.floor(computed_at * 1000), key, max(ttl, self.tag_ttl), *tags],
        )
        return bool(stored)

    async def _prune(self, name: str, now: int) -> None:
        oldest = now - self.ttl * 1000
        marks = await self.redis.hgetall(name)
        stale = [field for field, at in marks.items() if int(at) < oldest]
        if stale:
            await self.redis.hdel(name, *stale)
