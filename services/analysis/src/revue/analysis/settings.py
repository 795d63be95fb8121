"""Settings of the analysis service: the shared base plus this service's knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from revue.common.settings import ServiceSettings


class AnalysisSettings(ServiceSettings):
    otel_service_name: str = "revue-analysis"
    """The service's name in traces and logs."""
    port: int = Field(
        default=8001, ge=1, le=65535, validation_alias=AliasChoices("ANALYSIS_PORT", "port")
    )
    """The analysis service's HTTP port (`ANALYSIS_PORT`): health and metrics only."""

    # --- the provider ----------------------------------------------------------------
    provider: Literal["builtin", "openai"] = "builtin"
    """Who analyses: `builtin` (static analysis in worker processes) or `openai` (any
    OpenAI-compatible chat-completions endpoint)."""
    analysis_processes: int = Field(default=2, ge=1, le=64)
    """Worker processes of the builtin analyzer."""
    analysis_worker_deadline: float = Field(default=10.0, gt=0, le=600)
    """Seconds one call to a builtin worker may take: past it the worker is killed and
    replaced, the batch's items are tried again alone, and an item that overruns alone
    fails with `analysis_timeout` (422)."""
    openai_base_url: str | None = None
    """The OpenAI-compatible API's base URL (`https://api.openai.com/v1`, vLLM's, ...)."""
    openai_model: str = "gpt-4o-mini"
    """The model asked."""
    openai_api_key: SecretStr | None = None
    """The API key (sent as a bearer token)."""
    openai_timeout: float = Field(default=60.0, gt=0)
    """Seconds one provider call may take."""
    openai_max_concurrency: int = Field(default=8, ge=1)
    """Provider calls in flight at once."""
    request_concurrency: int = Field(default=256, ge=1, le=10_000)
    """Synchronous requests one process handles at once (`analysis.run`; a sixteenth of it
    in `analysis.run.batch` messages)."""
    cache_enabled: bool = True
    """The result cache; false: every request reaches the provider."""

    # --- micro-batching --------------------------------------------------------------
    batching_enabled: bool = True
    """Micro-batching; false: every request goes to the provider alone."""
    batch_max_size: int = Field(default=32, ge=1, le=512)
    """Requests in one batch at most."""
    batch_max_wait: float = Field(default=0.01, ge=0, le=5)
    """Seconds a request waits for others to join its batch (none when the provider is idle)."""
    batch_max_concurrent: int = Field(default=4, ge=1, le=64)
    """Batches in flight at once."""

    # --- toward the provider ---------------------------------------------------------
    provider_rate: float = Field(default=1000.0, gt=0)
    """Provider calls per second (a token bucket)."""
    provider_burst: int = Field(default=1000, ge=1)
    """Provider calls that may start at once."""
    retry_max_attempts: int = Field(default=3, ge=1, le=20)
    """Attempts per call, the first included (full-jitter backoff; `Retry-After` honoured)."""
    retry_initial_delay: float = Field(default=0.2, ge=0)
    """Seconds before the first retry (doubling each time)."""
    retry_max_delay: float = Field(default=5.0, ge=0)
    """The longest pause between attempts."""
    retry_deadline: float = Field(default=30.0, gt=0)
    """Seconds all attempts of one call may take together."""
    breaker_failure_threshold: int = Field(default=5, ge=1)
    """Consecutive failures that open the circuit."""
    breaker_recovery_timeout: float = Field(default=30.0, gt=0)
    """Seconds the circuit stays open before a trial call."""
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    """The failure rate over the window that opens the circuit."""
    breaker_slow_call_duration: float = Field(default=30.0, gt=0)
    """A call at least this slow counts as slow."""
    breaker_slow_call_rate: float = Field(default=1.0, gt=0, le=1)
    """The slow-call rate over the window that opens the circuit."""
    breaker_window: int = Field(default=20, ge=1)
    """Calls in the sliding window the rates are measured over."""
    breaker_minimum_calls: int = Field(default=10, ge=1)
    """Calls in the window before the rates count."""
    breaker_half_open_calls: int = Field(default=3, ge=1)
    """Trial calls while half-open."""

    # --- asynchronous jobs (JetStream ANALYSIS_JOBS) ---------------------------------
    jobs_enabled: bool = True
    """Take jobs from the queue (false: this process answers synchronous requests only)."""
    job_concurrency: int = Field(default=64, ge=1, le=4096)
    """Jobs one process works on at once."""
    job_max_deliver: int = Field(default=5, ge=1, le=100)
    """Deliveries of a job before it becomes a dead letter (`analysis.dead`)."""
    job_ack_wait: float = Field(default=30.0, ge=1)
    """Seconds JetStream waits for an acknowledgement (a job in progress is kept alive)."""
    job_nak_delay: float = Field(default=1.0, ge=0)
    """Seconds before a failed job is delivered again (growing with each delivery)."""
    job_nak_max_delay: float = Field(default=60.0, ge=0)
    """The longest redelivery delay."""
    job_consumer: str = "analysis-worker"
    """The durable consumers' name prefix (one per priority)."""
