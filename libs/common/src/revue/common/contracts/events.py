"""Event schemas: every message on the bus is one of these pydantic models.

Facts are named in the past tense (`AnalysisCompleted`), requests in the
imperative (`RunAnalysis`). Every model carries `schema_version`; a consumer
that meets a version it does not know, or a payload that does not validate,
rejects the message with a logged reason (see `broker.RejectMalformed`)
instead of crashing.

Not for: HTTP request bodies. The gateway's public models live in the gateway
and are translated into these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from revue.common.contracts.subjects import Priority

SCHEMA_VERSION = 1
MAX_CODE_CHARS = 1_000_000
MAX_RULES = 32
MAX_NAME = 200
MAX_KEYS_PER_MESSAGE = 1_000
MAX_PREFIXES_PER_MESSAGE = 64  # prefixes and tags: each costs a sweep

ShortText = Annotated[str, Field(max_length=MAX_NAME)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every bus payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION


E = TypeVar("E", bound=Event)


class MalformedEventError(ValueError):
    """A message that is not a valid event of the expected type."""

    def __init__(self, model: type[Event], reason: str) -> None:
        super().__init__(f"malformed {model.__name__}: {reason}")
        self.model = model
        self.reason = reason


def decode_event(model: type[E], payload: bytes | str) -> E:
    """Parse and validate one payload, or raise `MalformedEventError` saying why."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in error.errors()[:5]
        )
        raise MalformedEventError(model, problems) from error


# --- analysis -----------------------------------------------------------------


class ErrorInfo(BaseModel):
    """A failure as it crosses the bus: a stable code, a message, and advice."""

    model_config = ConfigDict(frozen=True)

    code: ShortText
    message: Annotated[str, Field(max_length=2_000)]
    retryable: bool = False
    retry_after_s: float | None = None


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: ShortText
    severity: Literal["info", "low", "medium", "high", "critical"]
    line: int = Field(ge=0)
    column: int = Field(ge=0)
    message: Annotated[str, Field(max_length=2_000)]
    fix_hint: Annotated[str, Field(max_length=2_000)] | None = None
    # How sure the check is that this is a real problem (bandit's scale); None: not said.
    confidence: Literal["low", "medium", "high"] | None = None
    # The weakness it is an instance of (CWE-89 is 89); None: not a security weakness.
    cwe: int | None = Field(default=None, ge=1, le=100_000)


class Usage(BaseModel):
    """What a result cost to compute: the provider's own token counts, and their price.

    A packed call's usage is shared among its items by their share of the
    prompt (`calls` is then a fraction of one call); an item retried alone adds
    the retry's usage to its share. `cost_usd` is None when no price is known
    for the model (LLM_PRICES): never guessed.
    """

    model_config = ConfigDict(frozen=True)

    model: ShortText | None = None
    calls: float = Field(default=0.0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cached_prompt_tokens: int = Field(default=0, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    packed: bool = False


class AnalysisResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    analyzer: ShortText
    analyzer_version: ShortText
    language: ShortText
    findings: list[Finding] = Field(default_factory=list)
    truncated: bool = False
    # What computing it cost (None for analyzers that call no model: the builtin one).
    usage: Usage | None = None


class RunAnalysis(Event):
    """Analyse one piece of code (sync request/reply or an async job)."""

    job_id: UUID = Field(default_factory=uuid4)
    owner_id: ShortText | None = None
    code: Annotated[str, Field(min_length=1, max_length=MAX_CODE_CHARS)]
    language: ShortText
    rules: Annotated[list[ShortText], Field(max_length=MAX_RULES)] = Field(default_factory=list)
    max_issues: int = Field(default=100, ge=1, le=1000)
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    priority: Priority = Priority.NORMAL
    submitted_at: datetime = Field(default_factory=utcnow)


MAX_RUNS_PER_MESSAGE = 256
# A NATS subject we may publish to: tokens of safe characters, no wildcards, and
# no `$` (never `$JS.` or `$SYS.`: the server's API, called with the responder's rights).
ReplySubject = Annotated[
    str, Field(max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
]


class BatchedRun(BaseModel):
    """One request of a `RunAnalysisBatch`, with where its answer goes."""

    model_config = ConfigDict(frozen=True)

    request: RunAnalysis
    reply_to: ReplySubject
    # The W3C trace context of this request (each request has its own trace).
    trace: Annotated[dict[ShortText, ShortText], Field(max_length=8)] = Field(default_factory=dict)


class RunAnalysisBatch(Event):
    """Several `RunAnalysis` in one message (`analysis.run.batch`).

    The gateway groups the synchronous requests that arrive while others are
    in flight, so the bus's per-message costs are paid once per group. Each
    request is answered (an `AnalysisReply`) on its own `reply_to` as soon as
    it is done: a slow one holds back nobody, and no answer has to share a
    message's size limit with others. The message's own reply, an
    `AnalysisBatchAnswered`, comes once every request has been answered.
    """

    runs: Annotated[list[BatchedRun], Field(min_length=1, max_length=MAX_RUNS_PER_MESSAGE)]


class AnalysisBatchAnswered(Event):
    """Every request of a `RunAnalysisBatch` has had its answer published."""

    answered: int = Field(ge=0)


class AnalyzerIdentity(BaseModel):
    """What, besides the request, decides a result: part of every cache key."""

    model_config = ConfigDict(frozen=True)

    provider: ShortText
    model: ShortText | None = None
    version: ShortText


class AnalysisReply(Event):
    """The answer to `RunAnalysis` on the synchronous path.

    `analyzer` is the analyzer a request's cache key is made for (the first of
    the chain); `answered_by` names a fallback when one answered instead, and
    `cache_key` is then the fallback's key, never the first analyzer's.
    """

    job_id: UUID
    analyzer: AnalyzerIdentity | None = None
    answered_by: AnalyzerIdentity | None = None
    cache_key: ShortText | None = None
    status: Literal["succeeded", "failed"]
    result: AnalysisResult | None = None
    error: ErrorInfo | None = None
    cached: bool = False
    duration_ms: float = Field(default=0.0, ge=0)


class AnalysisCompleted(Event):
    """Fact: a job finished, for better or worse."""

    job_id: UUID
    owner_id: ShortText | None = None
    status: Literal["succeeded", "failed"]
    result: AnalysisResult | None = None
    error: ErrorInfo | None = None
    cache_key: ShortText | None = None
    duration_ms: float = Field(default=0.0, ge=0)
    completed_at: datetime = Field(default_factory=utcnow)


class AnalysisDeadLettered(Event):
    """Fact: a job was given up after its last allowed delivery."""

    job_id: UUID | None = None
    subject: ShortText
    reason: Annotated[str, Field(max_length=2_000)]
    deliveries: int = Field(ge=0)
    payload: Annotated[str, Field(max_length=MAX_CODE_CHARS * 2)] = ""
    dead_at: datetime = Field(default_factory=utcnow)


class GetAnalysisStats(Event):
    """Ask the analysis service for its batching and queue figures."""


class GetUsage(Event):
    """Ask for one owner's provider calls, tokens and cost by day, in [since, until)."""

    owner_id: ShortText
    since: datetime
    until: datetime


# --- cache ----------------------------------------------------------------------

CacheKey = Annotated[str, Field(min_length=1, max_length=512)]


class GetCacheEntry(Event):
    key: CacheKey


class SetCacheEntry(Event):
    key: CacheKey
    value: Annotated[str, Field(max_length=MAX_CODE_CHARS * 4)]
    content_type: ShortText = "analysis"
    ttl_s: int | None = Field(default=None, ge=1)
    tags: Annotated[list[ShortText], Field(max_length=64)] = Field(default_factory=list)


class InvalidateCache(Event):
    """Drop entries by key, prefix or tag; fanned out to every process's L1."""

    keys: Annotated[list[CacheKey], Field(max_length=MAX_KEYS_PER_MESSAGE)] = Field(
        default_factory=list
    )
    prefixes: Annotated[list[CacheKey], Field(max_length=MAX_PREFIXES_PER_MESSAGE)] = Field(
        default_factory=list
    )
    tags: Annotated[list[ShortText], Field(max_length=MAX_PREFIXES_PER_MESSAGE)] = Field(
        default_factory=list
    )
    origin: ShortText | None = None


class GetCacheStats(Event):
    pass


class GetQueryReport(Event):
    """Request: the query-optimizer's report (or only its recommendations)."""

    limit: int = Field(default=10, ge=1, le=100)


class GetManifest(Event):
    """Request: the cdn's current manifest (the reply is its JSON gzipped; empty: none yet)."""


# --- database -------------------------------------------------------------------


class QueryExecuted(Event):
    """Fact: a service ran one SQL statement (sampled)."""

    service: ShortText
    statement: Annotated[str, Field(max_length=100_000)]
    duration_ms: float = Field(ge=0)
    rows: int = Field(default=-1, ge=-1)
    tables: Annotated[list[ShortText], Field(max_length=64)] = Field(default_factory=list)
    executed_at: datetime = Field(default_factory=utcnow)
    # Statements this one stands for: 1 / sample rate for a sampled one, 1 for a slow one.
    weight: float = Field(default=1.0, ge=1.0, le=1_000_000)


class TableChanged(Event):
    """Fact: a committed transaction wrote these tables."""

    service: ShortText
    tables: Annotated[list[ShortText], Field(min_length=1, max_length=64)]
    committed_at: datetime = Field(default_factory=utcnow)


class RecommendationCreated(Event):
    table: ShortText
    columns: Annotated[list[ShortText], Field(min_length=1, max_length=32)]
    statement: Annotated[str, Field(max_length=4_000)]
    estimated_improvement_pct: float
    estimated_size_bytes: int = Field(ge=0)
    fingerprints: Annotated[list[ShortText], Field(max_length=256)] = Field(default_factory=list)


# --- cdn ------------------------------------------------------------------------

AssetPath = Annotated[str, Field(min_length=1, max_length=1_024)]


class AssetPublished(Event):
    deployment_id: ShortText
    changed_paths: Annotated[list[AssetPath], Field(max_length=100_000)] = Field(
        default_factory=list
    )
    published_at: datetime = Field(default_factory=utcnow)


class RequestInvalidation(Event):
    request_id: UUID = Field(default_factory=uuid4)
    paths: Annotated[list[AssetPath], Field(max_length=10_000)] = Field(default_factory=list)
    patterns: Annotated[list[AssetPath], Field(max_length=1_000)] = Field(default_factory=list)
    surrogate_keys: Annotated[list[ShortText], Field(max_length=10_000)] = Field(
        default_factory=list
    )
    everything: bool = False
    soft: bool = False


class InvalidationCompleted(Event):
    request_id: UUID
    backend: ShortText
    status: Literal["purged", "failed"]
    items: int = Field(ge=0)
    detail: Annotated[str, Field(max_length=2_000)] = ""
    completed_at: datetime = Field(default_factory=utcnow)


class Rejection(Event):
    """Reply sent to a requester whose message was rejected as malformed."""

    error: ErrorInfo
