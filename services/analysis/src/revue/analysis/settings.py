"""Settings of the analysis service: the shared base plus this service's knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from revue.common.settings import ServiceSettings


class AnalysisSettings(ServiceSettings):
    otel_service_name: str = "revue-analysis"
    port: int = Field(
        default=8001, ge=1, le=65535, validation_alias=AliasChoices("ANALYSIS_PORT", "port")
    )

    # Provider
    provider: Literal["builtin", "openai"] = "builtin"
    analysis_processes: int = Field(default=2, ge=1, le=64)
    # Hard deadline of one call to a builtin worker: past it the worker is killed
    # and the batch's items are tried again alone (then fail with analysis_timeout).
    analysis_worker_deadline: float = Field(default=10.0, gt=0, le=600)
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_api_key: SecretStr | None = None
    openai_timeout: float = Field(default=60.0, gt=0)
    openai_max_concurrency: int = Field(default=8, ge=1)

    # Synchronous requests handled at once by one process (analysis.run; a
    # sixteenth of it for analysis.run.batch messages)
    request_concurrency: int = Field(default=256, ge=1, le=10_000)

    # Result cache (CACHE_ENABLED=false: every request reaches the provider)
    cache_enabled: bool = True

    # Micro-batching (BATCHING_ENABLED=false sends every request alone)
    batching_enabled: bool = True
    batch_max_size: int = Field(default=32, ge=1, le=512)
    batch_max_wait: float = Field(default=0.01, ge=0, le=5)
    batch_max_concurrent: int = Field(default=4, ge=1, le=64)

    # Toward the provider
    provider_rate: float = Field(default=1000.0, gt=0)
    provider_burst: int = Field(default=1000, ge=1)
    retry_max_attempts: int = Field(default=3, ge=1, le=20)
    retry_initial_delay: float = Field(default=0.2, ge=0)
    retry_max_delay: float = Field(default=5.0, ge=0)
    retry_deadline: float = Field(default=30.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_recovery_timeout: float = Field(default=30.0, gt=0)
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_slow_call_duration: float = Field(default=30.0, gt=0)
    breaker_slow_call_rate: float = Field(default=1.0, gt=0, le=1)
    breaker_window: int = Field(default=20, ge=1)
    breaker_minimum_calls: int = Field(default=10, ge=1)
    breaker_half_open_calls: int = Field(default=3, ge=1)

    # Asynchronous jobs (JetStream ANALYSIS_JOBS)
    jobs_enabled: bool = True
    job_concurrency: int = Field(default=64, ge=1, le=4096)
    job_max_deliver: int = Field(default=5, ge=1, le=100)
    job_ack_wait: float = Field(default=30.0, ge=1)
    job_nak_delay: float = Field(default=1.0, ge=0)
    job_nak_max_delay: float = Field(default=60.0, ge=0)
    job_consumer: str = "analysis-worker"
