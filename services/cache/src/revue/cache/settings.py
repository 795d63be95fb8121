"""Settings of the cache service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class CacheSettings(ServiceSettings):
    otel_service_name: str = "revue-cache"
    port: int = Field(
        default=8002, ge=1, le=65535, validation_alias=AliasChoices("CACHE_PORT", "port")
    )
