"""The JetStream streams: retention, limits and duplicate windows, declared once.

Producers and consumers agree on these specs; `revue.common.bus.streams`
creates them on a server. Pure data: nothing here talks to NATS.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from revue.common.contracts import subjects
from revue.common.contracts.subjects import BusTopology

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream, before the deployment's namespace is applied."""

    name: str
    subjects: tuple[str, ...]
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    max_age_s: float = 7 * DAY_S
    max_msgs: int = -1
    max_bytes: int = -1
    duplicate_window_s: float = 120.0
    discard: DiscardPolicy = DiscardPolicy.OLD

    def config(self, topology: BusTopology) -> StreamConfig:
        return StreamConfig(
            name=topology.stream(self.name),
            subjects=[topology.subject(s) for s in self.subjects],
            retention=self.retention,
            storage=StorageType.FILE,
            max_age=self.max_age_s,
            max_msgs=self.max_msgs,
            max_bytes=self.max_bytes,
            duplicate_window=self.duplicate_window_s,
            discard=self.discard,
        )


ANALYSIS_JOBS = StreamSpec(
    name="ANALYSIS_JOBS",
    subjects=(f"{subjects.ANALYSIS_JOBS}.*",),
    retention=RetentionPolicy.WORK_QUEUE,
    max_age_s=DAY_S,
    # An Idempotency-Key retried within a day still maps to the same job.
    duplicate_window_s=DAY_S,
    # A full queue refuses new jobs (the client sees 503) rather than
    # silently dropping accepted ones.
    discard=DiscardPolicy.NEW,
    max_msgs=1_000_000,
)
ANALYSIS_EVENTS = StreamSpec(name="ANALYSIS_EVENTS", subjects=(subjects.ANALYSIS_COMPLETED_ANY,))
ANALYSIS_DEAD = StreamSpec(
    name="ANALYSIS_DEAD", subjects=(subjects.ANALYSIS_DEAD,), max_age_s=30 * DAY_S
)
QUERY_EVENTS = StreamSpec(
    name="QUERY_EVENTS",
    subjects=(subjects.DB_QUERY_EXECUTED,),
    max_age_s=DAY_S,
    max_msgs=5_000_000,
)
QUERY_ADVICE = StreamSpec(
    name="QUERY_ADVICE", subjects=(subjects.QUERY_RECOMMENDATION_CREATED,), max_age_s=30 * DAY_S
)
CDN = StreamSpec(
    name="CDN",
    subjects=(
        subjects.CDN_ASSET_PUBLISHED,
        subjects.CDN_INVALIDATE_REQUESTED,
        subjects.CDN_INVALIDATE_COMPLETED,
    ),
    max_age_s=30 * DAY_S,
)

ALL_STREAMS: tuple[StreamSpec, ...] = (
    ANALYSIS_JOBS,
    ANALYSIS_EVENTS,
    ANALYSIS_DEAD,
    QUERY_EVENTS,
    QUERY_ADVICE,
    CDN,
)
