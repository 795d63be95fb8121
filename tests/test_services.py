"""Every service starts with its connections, reports readiness and metrics, and stops."""

import importlib

import httpx
import pytest

SERVICES = {
    "gateway": ("GatewaySettings", {"nats", "redis", "postgres"}),
    "analysis": ("AnalysisSettings", {"nats", "redis", "postgres"}),
    "cache": ("CacheSettings", {"nats", "redis"}),
    "query_optimizer": ("QueryOptimizerSettings", {"nats", "redis", "postgres"}),
    "cdn": ("CdnSettings", {"nats", "postgres"}),
}


@pytest.mark.parametrize("service", SERVICES)
async def test_service_is_ready_with_its_dependencies(service, make_settings, database_url):
    settings_name, dependencies = SERVICES[service]
    settings_class = getattr(importlib.import_module(f"revue.{service}.settings"), settings_name)
    create_app = importlib.import_module(f"revue.{service}.app").create_app
    app = create_app(make_settings(settings_class, database_url), configure_process=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://svc") as http,
    ):
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert alive.json()["service"] == f"revue-{service.replace('_', '-')}"
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks) == dependencies
    assert all(check["status"] == "up" for check in checks.values())
    assert metrics.status_code == 200
    if "postgres" in dependencies:
        assert "db_pool_size" in metrics.text
