"""Composition root of the gateway service: settings -> runtime -> app."""

from __future__ import annotations

from fastapi import FastAPI

from revue.common.service import ServiceRuntime, serve
from revue.gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings | None = None, *, configure_process: bool = True
) -> FastAPI:
    settings = settings or GatewaySettings()
    runtime = ServiceRuntime(settings, configure_process=configure_process)
    runtime.use_redis()
    runtime.use_database()
    return runtime.build_app(
        title="Revue gateway",
        description="Public REST API: validates, authenticates, rate-limits, publishes to NATS.",
    )


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings)
