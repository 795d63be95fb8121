"""What the cache keeps and for how long (seed 001's TTL table), all configurable."""

from __future__ import annotations

from dataclasses import dataclass, field

HOUR = 3_600
DAY = 24 * HOUR


@dataclass(frozen=True)
class TTLPolicy:
    """Seconds to keep each content type; 0 means never cache it."""

    seconds: dict[str, int] = field(
        default_factory=lambda: {
            "analysis": DAY,  # code analysis is deterministic
            "embedding": 7 * DAY,  # embeddings rarely change
            "model_response": HOUR,  # may need fresher data
            "chat": HOUR,  # only when deterministic enough, see below
        }
    )
    # Chat answers above this temperature are non-deterministic: never cached.
    max_chat_temperature: float = 0.3
    default: int = HOUR

    def ttl_for(self, content_type: str, temperature: float | None = None) -> int:
        if content_type == "chat" and (temperature or 0.0) > self.max_chat_temperature:
            return 0
        return self.seconds.get(content_type, self.default)


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = True
    namespace: str = "revue"
    l1_max_entries: int = 10_000
    l1_max_bytes: int = 64 * 1024 * 1024
    ttl: TTLPolicy = field(default_factory=TTLPolicy)
    cost_per_call_usd: float = 0.02
    redis_timeout: float = 0.25
    breaker_failure_threshold: int = 3
    breaker_recovery_timeout: float = 2.0


def namespace_for(bus_namespace: str) -> str:
    """The Redis key namespace that every service of one deployment shares."""
    return f"revue{bus_namespace}"
