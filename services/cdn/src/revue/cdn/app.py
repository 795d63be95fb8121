"""Composition root of the cdn service: settings -> runtime -> app."""

from __future__ import annotations

from fastapi import FastAPI

from revue.cdn.settings import CdnSettings
from revue.common.service import ServiceRuntime, serve


def create_app(settings: CdnSettings | None = None, *, configure_process: bool = True) -> FastAPI:
    settings = settings or CdnSettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    runtime.use_database()
    return runtime.build_app(
        title="Revue CDN origin",
        description="Versions, compresses, serves and invalidates static assets.",
    )


def main() -> None:
    settings = CdnSettings()
    serve(create_app(settings), settings)
