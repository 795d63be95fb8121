"""Settings of the cache service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.cache import CacheConfig, TTLPolicy
from revue.common.cache.config import namespace_for
from revue.common.settings import ServiceSettings


class CacheSettings(ServiceSettings):
    otel_service_name: str = "revue-cache"
    """The service's name in traces and logs."""
    port: int = Field(
        default=8002, ge=1, le=65535, validation_alias=AliasChoices("CACHE_PORT", "port")
    )
    """The cache service's HTTP port (`CACHE_PORT`): health and metrics only."""
    cache_enabled: bool = True
    """The result cache; false: nothing is stored or served."""
    cache_l1_max_entries: int = Field(default=10_000, ge=1)
    """Entries in this process's L1 cache."""
    cache_l1_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Bytes in this process's L1 cache."""
    cache_analysis_ttl: int = Field(default=86_400, ge=0)
    """Seconds an analysis result is kept (seed 001: 24 h)."""
    cache_embedding_ttl: int = Field(default=7 * 86_400, ge=0)
    """Seconds an embedding is kept (seed 001: 7 days)."""
    cache_model_response_ttl: int = Field(default=3_600, ge=0)
    """Seconds a model response is kept (seed 001: 1 h)."""
    cache_chat_max_temperature: float = Field(default=0.3, ge=0)
    """Chat answers sampled above this temperature are never cached."""
    cache_cost_per_call_usd: float = Field(default=0.02, ge=0)
    """The savings estimate's price of one provider call avoided."""
    cache_writer_consumer: str = "cache-writer"
    """The durable consumer that writes results through to L2."""

    def cache_config(self) -> CacheConfig:
        return CacheConfig(
            enabled=self.cache_enabled,
            namespace=namespace_for(self.bus_namespace),
            l1_max_entries=self.cache_l1_max_entries,
            l1_max_bytes=self.cache_l1_max_bytes,
            cost_per_call_usd=self.cache_cost_per_call_usd,
            ttl=TTLPolicy(
                seconds={
                    "analysis": self.cache_analysis_ttl,
                    "embedding": self.cache_embedding_ttl,
                    "model_response": self.cache_model_response_ttl,
                    "chat": self.cache_model_response_ttl,
                },
                max_chat_temperature=self.cache_chat_max_temperature,
            ),
        )
