"""Settings of the query-optimizer service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class QueryOptimizerSettings(ServiceSettings):
    otel_service_name: str = "revue-query-optimizer"
    port: int = Field(
        default=8003, ge=1, le=65535, validation_alias=AliasChoices("QUERY_OPTIMIZER_PORT", "port")
    )
