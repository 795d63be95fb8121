"""Settings of the gateway: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator

from revue.common.settings import MIN_SECRET_BYTES, ServiceSettings


class GatewaySettings(ServiceSettings):
    otel_service_name: str = "revue-gateway"
    """The service's name in traces and logs."""
    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("GATEWAY_PORT", "port")
    )
    """The gateway's HTTP port (`GATEWAY_PORT`): the public API."""

    # --- authentication ---------------------------------------------------------------
    jwt_secret: SecretStr | None = None
    """The signing key of access and refresh tokens: 32+ random bytes, the same on every
    gateway. Unset or empty: a random one per process (tokens end with it); shorter: the
    gateway refuses to start."""
    jwt_issuer: str = "revue"
    """The `iss` claim of the tokens."""
    access_token_ttl: int = Field(default=900, ge=60)
    """Seconds an access token is good for."""
    refresh_token_ttl: int = Field(default=7 * 86_400, ge=300)
    """Seconds a refresh token is good for (each is good once: it rotates on use)."""
    argon2_time_cost: int = Field(default=2, ge=1)
    """argon2id passes per password hash."""
    argon2_memory_cost_kib: int = Field(default=19_456, ge=1024)
    """argon2id memory per password hash, in KiB."""
    api_keys_per_user: int = Field(default=20, ge=1)
    """Active API keys an account may hold."""

    # --- limits on what clients send -------------------------------------------------
    max_body_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)
    """Request bodies over this are refused with 413 while they stream in."""
    batch_max_items: int = Field(default=50, ge=1, le=50)
    """Items in one `POST /batch/analyze` (may be lowered, not raised: the API says 50)."""
    batch_max_code_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=10 * 1024 * 1024)
    """Code in one `POST /batch/analyze`, all items together (at most the API's 10 MiB)."""
    batch_get_max_ids: int = Field(default=100, ge=1, le=100)
    """Ids in one `POST /batch/get` (at most the API's 100)."""

    # --- rate limits (GCRA in Redis, shared by every gateway) -------------------------
    rate_limit_enabled: bool = True
    """Rate limiting; false: no limits (the suite answers the same, unprotected)."""
    rate_limit_per_minute: int = Field(default=600, ge=1)
    """Requests per minute per principal (user or API key)."""
    rate_limit_burst: int = Field(default=100, ge=1)
    """Requests a principal may send at once."""
    rate_limit_batch_per_minute: int = Field(default=30, ge=1)
    """Batch requests per minute per principal."""
    rate_limit_batch_burst: int = Field(default=5, ge=1)
    """Batch requests a principal may send at once."""
    rate_limit_anonymous_per_minute: int = Field(default=30, ge=1)
    """Anonymous requests (register, token) per minute per client address."""
    rate_limit_anonymous_burst: int = Field(default=10, ge=1)
    """Anonymous requests a client address may send at once."""
    rate_limit_max_lease: int = Field(default=32, ge=1, le=1000)
    """A busy client's tokens are leased in blocks of up to this many, one Redis call per
    block (and at most a sixteenth of the burst); 1: one Redis call per request."""
    rate_limit_lease_horizon: float = Field(default=0.05, gt=0, le=1)
    """Seconds of a client's traffic a lease is sized for."""
    trust_forwarded_for: bool = False
    """The same as `TRUSTED_PROXIES=1`."""
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    """Proxies in front of the gateway: the anonymous limit counts the X-Forwarded-For
    address that many entries from the right (what a client writes left of it is
    ignored); 0: the peer address."""

    @property
    def trusted_proxy_count(self) -> int:
        return self.trusted_proxies or int(self.trust_forwarded_for)

    # --- analysis --------------------------------------------------------------------
    async_processing_enabled: bool = True
    """Jobs go through the queue; false: `POST /analyses` analyses at once (same API)."""
    cache_enabled: bool = True
    """The result cache; false: every request reaches the analysis service."""
    cache_l1_max_entries: int = Field(default=10_000, ge=1)
    """Entries in this process's L1 cache."""
    cache_l1_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Bytes in this process's L1 cache."""
    cache_response_ttl: int = Field(default=300, ge=0)
    """Seconds GET responses of analyses are cached (0: off)."""
    analysis_timeout_margin: float = Field(default=1.0, ge=0)
    """Seconds the gateway waits past a request's own timeout for the analysis answer."""
    analysis_group_max: int = Field(default=64, ge=1, le=256)
    """Synchronous analyses that arrive while groups are in flight travel together in one
    `analysis.run.batch` message, at most this many."""
    analysis_groups_in_flight: int = Field(default=4, ge=1, le=64)
    """Groups in flight at once; a lone request goes at once while a slot is free."""
    analysis_group_hold: float = Field(default=0.005, ge=0, le=1)
    """Seconds a group holds its slot at most, answered or not."""
    job_status_consumer: str = "gateway-job-status"
    """The durable consumer that finishes job rows from `analysis.completed.job`."""

    # --- HTTP ------------------------------------------------------------------------
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser (a JSON list); none by default."""
    compression_minimum_size: int = Field(default=1000, ge=0)
    """Responses at least this large are compressed (brotli or gzip, as asked)."""

    @field_validator("jwt_secret")
    @classmethod
    def long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is None or not secret.get_secret_value():
            return None  # empty counts as unset
        if len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (unset it for a random"
                " per-process secret)"
            )
        return secret
