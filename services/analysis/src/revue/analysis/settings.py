"""Settings of the analysis service: the shared base plus this service's knobs."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from revue.common.settings import ServiceSettings


class AnalysisSettings(ServiceSettings):
    otel_service_name: str = "revue-analysis"
    port: int = Field(
        default=8001, ge=1, le=65535, validation_alias=AliasChoices("ANALYSIS_PORT", "port")
    )
