"""Settings of the gateway: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator

from revue.common.settings import MIN_SECRET_BYTES, ServiceSettings


class GatewaySettings(ServiceSettings):
    otel_service_name: str = "revue-gateway"
    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("GATEWAY_PORT", "port")
    )

    # Authentication. Without JWT_SECRET a random one is drawn at start-up:
    # fine for one process on a laptop, wrong for several gateways. A short one
    # is refused: it could be guessed offline from any token.
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "revue"
    access_token_ttl: int = Field(default=900, ge=60)
    refresh_token_ttl: int = Field(default=7 * 86_400, ge=300)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost_kib: int = Field(default=19_456, ge=1024)
    api_keys_per_user: int = Field(default=20, ge=1)

    # Limits on what clients send. The batch limits may be lowered, not raised:
    # the API's contract (seed 002, the OpenAPI schema) is 50 items, 10 MiB, 100 ids.
    max_body_bytes: int = Field(default=12 * 1024 * 1024, ge=1024)
    batch_max_items: int = Field(default=50, ge=1, le=50)
    batch_max_code_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=10 * 1024 * 1024)
    batch_get_max_ids: int = Field(default=100, ge=1, le=100)

    # Rate limits (GCRA in Redis, shared by every gateway): requests per minute
    rate_limit_enabled: bool = True
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_burst: int = Field(default=100, ge=1)
    rate_limit_batch_per_minute: int = Field(default=30, ge=1)
    rate_limit_batch_burst: int = Field(default=5, ge=1)
    rate_limit_anonymous_per_minute: int = Field(default=30, ge=1)
    rate_limit_anonymous_burst: int = Field(default=10, ge=1)
    # A busy client's tokens are leased in blocks (one Redis call per block);
    # 1 asks Redis for every request. See rate_leases.
    rate_limit_max_lease: int = Field(default=32, ge=1, le=1000)
    rate_limit_lease_horizon: float = Field(default=0.05, gt=0, le=1)
    # Behind proxies, X-Forwarded-For names the client; only the entry this many
    # from the right is believed (each proxy appends one). 0: the peer address.
    # TRUST_FORWARDED_FOR=true is the same as one proxy.
    trust_forwarded_for: bool = False
    trusted_proxies: int = Field(default=0, ge=0, le=10)

    @property
    def trusted_proxy_count(self) -> int:
        return self.trusted_proxies or int(self.trust_forwarded_for)

    # Analysis
    async_processing_enabled: bool = True
    cache_enabled: bool = True
    cache_l1_max_entries: int = Field(default=10_000, ge=1)
    cache_l1_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # GET responses (seed 003's default: 5 minutes; 0 turns the response cache off)
    cache_response_ttl: int = Field(default=300, ge=0)
    analysis_timeout_margin: float = Field(default=1.0, ge=0)
    # Synchronous requests that arrive together travel in one message
    # (analysis.run.batch): at most this many, this many messages in flight,
    # each holding its slot until answered or for this long (seconds).
    analysis_group_max: int = Field(default=64, ge=1, le=256)
    analysis_groups_in_flight: int = Field(default=4, ge=1, le=64)
    analysis_group_hold: float = Field(default=0.005, ge=0, le=1)
    job_status_consumer: str = "gateway-job-status"

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

    # HTTP
    cors_origins: list[str] = Field(default_factory=list)
    compression_minimum_size: int = Field(default=1000, ge=0)
