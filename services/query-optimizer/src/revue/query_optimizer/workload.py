"""Figures per statement fingerprint, merged from sampled events.

Durations go into a fixed log-scale histogram (buckets 25 % wide from
0.01 ms to about 10 minutes), so figures from many batches and processes
merge by adding arrays, and p95 is read back within a bucket's width.
Each event counts `weight` statements (the inverse of its sample rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from revue.common.contracts.events import QueryExecuted
from revue.common.db.sql_shape import StatementShape

BUCKETS = 80
SMALLEST_MS = 0.01
GROWTH = 1.25


def bucket_of(milliseconds: float) -> int:
    if milliseconds <= SMALLEST_MS:
        return 0
    return min(BUCKETS - 1, math.ceil(math.log(milliseconds / SMALLEST_MS, GROWTH)))


def upper_edge(bucket: int) -> float:
    return SMALLEST_MS * GROWTH**bucket


def percentile(histogram: Sequence[float], share: float) -> float:
    """The upper edge of the bucket holding the `share` quantile (0 when empty)."""
    total = sum(histogram)
    if total <= 0:
        return 0.0
    seen = 0.0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= share * total:
            return round(upper_edge(bucket), 3)
    return round(upper_edge(BUCKETS - 1), 3)


@dataclass
class FingerprintFigures:
    fingerprint: str
    normalized: str
    example: str
    services: set[str] = field(default_factory=set)
    tables: list[str] = field(default_factory=list)
    calls: float = 0.0
    total_ms: float = 0.0
    max_ms: float = 0.0
    rows: float = 0.0
    histogram: list[float] = field(default_factory=lambda: [0.0] * BUCKETS)

    def add(self, event: QueryExecuted) -> None:
        self.example = event.statement  # the newest real text, for EXPLAIN
        self.services.add(event.service)
        self.tables = event.tables or self.tables
        self.calls += event.weight
        self.total_ms += event.duration_ms * event.weight
        self.max_ms = max(self.max_ms, event.duration_ms)
        self.rows += max(event.rows, 0) * event.weight
        self.histogram[bucket_of(event.duration_ms)] += event.weight


def aggregate(events: Sequence[tuple[QueryExecuted, StatementShape]]) -> list[FingerprintFigures]:
    figures: dict[str, FingerprintFigures] = {}
    for event, shape in events:
        entry = figures.get(shape.fingerprint)
        if entry is None:
            entry = figures[shape.fingerprint] = FingerprintFigures(
                shape.fingerprint, shape.normalized, event.statement
            )
        entry.add(event)
    return list(figures.values())
