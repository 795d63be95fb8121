"""Settings of the cdn service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class CdnSettings(ServiceSettings):
    otel_service_name: str = "revue-cdn"
    port: int = Field(
        default=8004, ge=1, le=65535, validation_alias=AliasChoices("CDN_PORT", "port")
    )
