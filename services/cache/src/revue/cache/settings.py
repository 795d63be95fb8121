"""Settings of the cache service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.cache import CacheConfig, TTLPolicy
from revue.common.cache.config import namespace_for
from revue.common.settings import ServiceSettings


class CacheSettings(ServiceSettings):
    otel_service_name: str = "revue-cache"
    port: int = Field(
        default=8002, ge=1, le=65535, validation_alias=AliasChoices("CACHE_PORT", "port")
    )
    cache_enabled: bool = True
    cache_l1_max_entries: int = Field(default=10_000, ge=1)
    cache_l1_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    cache_analysis_ttl: int = Field(default=86_400, ge=0)
    cache_embedding_ttl: int = Field(default=7 * 86_400, ge=0)
    cache_model_response_ttl: int = Field(default=3_600, ge=0)
    cache_chat_max_temperature: float = Field(default=0.3, ge=0)
    cache_cost_per_call_usd: float = Field(default=0.02, ge=0)
    cache_writer_consumer: str = "cache-writer"

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
