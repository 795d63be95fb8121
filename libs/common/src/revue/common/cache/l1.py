"""L1: an in-process LRU bounded by entries and by bytes, with TTLs and tags.

Values are stored serialized (bytes), so the byte bound is exact and a cached
value cannot be mutated by a caller. Expired entries are dropped when met.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float
    tags: frozenset[str]


class L1MemoryCache:
    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires_at <= self.clock():
            self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.value

    def set(self, key: str, value: bytes, ttl: float, tags: Iterable[str] = ()) -> None:
        if len(value) > self.max_bytes:
            return  # larger than the whole tier: keep it in L2 only
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Entry(value, self.clock() + ttl, frozenset(tags))
        self.bytes += len(value)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.evictions += 1

    def delete(self, key: str) -> bool:
        if key in self._entries:
            self._drop(key)
            return True
        return False

    def delete_prefix(self, prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def delete_tag(self, tag: str) -> int:
        doomed = [key for key, entry in self._entries.items() if tag in entry.tags]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= len(entry.value)

    def stats(self) -> dict[str, int]:
        return {
            "size": len(self._entries),
            "memory_usage_bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }
