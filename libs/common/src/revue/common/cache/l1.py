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
    saving: float | None = None  # what serving it saves (its stored cost), when known


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
        # tag -> keys: invalidating a tag costs its members, not a pass over the cache
        self._tagged: dict[str, set[str]] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, *, count: bool = True) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += count
            return None
        if entry.expires_at <= self.clock():
            self._drop(key)
            self.misses += count
            return None
        self._entries.move_to_end(key)
        self.hits += count
        return entry.value

    def saving(self, key: str) -> float | None:
        """The stored cost of an entry (what a hit on it saved), when known."""
        entry = self._entries.get(key)
        return entry.saving if entry is not None else None

    def set(
        self,
        key: str,
        value: bytes,
        ttl: float,
        tags: Iterable[str] = (),
        saving: float | None = None,
    ) -> None:
        if len(value) > self.max_bytes:
            return  # larger than the whole tier: keep it in L2 only
        if key in self._entries:
            self._drop(key)
        entry = _Entry(value, self.clock() + ttl, frozenset(tags), saving)
        self._entries[key] = entry
        for tag in entry.tags:
            self._tagged.setdefault(tag, set()).add(key)
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
        doomed = list(self._tagged.get(tag, ()))
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def clear(self) -> None:
        self._entries.clear()
        self._tagged.clear()
        self.bytes = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= len(entry.value)
        for tag in entry.tags:
            members = self._tagged[tag]
            members.discard(key)
            if not members:
                del self._tagged[tag]

    def stats(self) -> dict[str, int]:
        return {
            "size": len(self._entries),
            "memory_usage_bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }
