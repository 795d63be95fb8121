"""Composition root of the analysis service: settings -> runtime -> app."""

from __future__ import annotations

from fastapi import FastAPI

from revue.analysis.settings import AnalysisSettings
from revue.common.service import ServiceRuntime, serve


def create_app(
    settings: AnalysisSettings | None = None, *, configure_process: bool = True
) -> FastAPI:
    settings = settings or AnalysisSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    runtime.use_database()
    return runtime.build_app(
        title="Revue analysis",
        description="Code analysis via a pluggable AI provider: batching, retries, breaker.",
    )


def main() -> None:
    settings = AnalysisSettings()
    serve(create_app(settings), settings)
