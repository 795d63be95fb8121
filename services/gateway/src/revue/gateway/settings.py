"""Settings of the gateway service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    otel_service_name: str = "revue-gateway"
    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("GATEWAY_PORT", "port")
    )
