"""Bus subjects and their namespacing.

The constants are the names of DESIGN.md's bus table. `BusTopology` applies
the deployment's namespace so that code never builds a subject by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ANALYSIS_RUN = "analysis.run"
# Many analysis.run requests in one message, each answered on its own reply
# subject (the gateway groups the requests that arrive together).
ANALYSIS_RUN_BATCH = "analysis.run.batch"
ANALYSIS_JOBS = "analysis.jobs"  # + ".<priority>"
# Completions, by where the request came from: `.sync` answers analysis.run
# (its caller already has the result), `.job` finishes a JetStream job (the
# gateway's job status waits for it). Consumers of both take `.>`.
ANALYSIS_COMPLETED = "analysis.completed"
ANALYSIS_COMPLETED_SYNC = f"{ANALYSIS_COMPLETED}.sync"
ANALYSIS_COMPLETED_JOB = f"{ANALYSIS_COMPLETED}.job"
ANALYSIS_COMPLETED_ANY = f"{ANALYSIS_COMPLETED}.>"
ANALYSIS_DEAD = "analysis.dead"
ANALYSIS_STATS = "analysis.stats"
ANALYSIS_USAGE = "analysis.usage"  # one owner's provider calls, tokens and cost by day
CACHE_GET = "cache.get"
CACHE_SET = "cache.set"
CACHE_STATS = "cache.stats"
CACHE_INVALIDATE = "cache.invalidate"
DB_QUERY_EXECUTED = "db.query.executed"
DB_TABLE_CHANGED = "db.table.changed"
QUERY_RECOMMENDATION_CREATED = "query.recommendation.created"
QUERY_REPORT = "query.report"  # request/reply: the optimizer's report
QUERY_RECOMMENDATIONS = "query.recommendations"  # request/reply: current index advice
CDN_ASSET_PUBLISHED = "cdn.asset.published"
CDN_INVALIDATE_REQUESTED = "cdn.invalidate.requested"
CDN_INVALIDATE_COMPLETED = "cdn.invalidate.completed"
CDN_MANIFEST = "cdn.manifest"  # request/reply: the current manifest

ANALYSIS_QUEUE_GROUP = "analysis"
CACHE_QUEUE_GROUP = "cache"
CDN_QUEUE_GROUP = "cdn"
QUERY_OPTIMIZER_QUEUE_GROUP = "query-optimizer"


class Priority(StrEnum):
    """Job priorities, most urgent first; each has its own subject."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class BusTopology:
    """Subjects and stream names as this deployment spells them."""

    namespace: str = ""

    def subject(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def job_subject(self, priority: Priority | str) -> str:
        return self.subject(f"{ANALYSIS_JOBS}.{Priority(priority).value}")

    def stream(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name


def is_system_subject(subject: str) -> bool:
    """`$JS.`, `$SYS.`, `$KV.`...: the server's own API. A request that names one as its
    reply would have the responder call that API with the responder's rights."""
    return subject.startswith("$")
