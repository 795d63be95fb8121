from revue.common.settings import ServiceSettings
from revue.gateway.settings import GatewaySettings
from revue.query_optimizer.settings import QueryOptimizerSettings


def test_conventional_variables_configure_the_servers(monkeypatch):
    monkeypatch.setenv("NATS_URL", "nats://10.0.0.1:4222")
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.2:6379/3")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@10.0.0.3/db")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    settings = ServiceSettings()
    assert settings.nats_url == "nats://10.0.0.1:4222"
    assert settings.redis_url == "redis://10.0.0.2:6379/3"
    assert settings.database_url == "postgresql+asyncpg://u@10.0.0.3/db"
    assert settings.otel_exporter_otlp_endpoint == "http://jaeger:4318"


def test_defaults_are_the_local_servers_and_seed_pool(monkeypatch):
    for name in ("NATS_URL", "REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = ServiceSettings(_env_file=None)
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    pool = (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout)
    assert pool == (20, 10, 30.0)
    assert (settings.db_pool_recycle, settings.db_pool_pre_ping) == (3600, True)


def test_each_service_has_its_own_port_variable_and_name(monkeypatch):
    monkeypatch.setenv("GATEWAY_PORT", "9100")
    monkeypatch.setenv("QUERY_OPTIMIZER_PORT", "9103")
    assert GatewaySettings().port == 9100
    assert GatewaySettings().otel_service_name == "revue-gateway"
    assert QueryOptimizerSettings().port == 9103
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gw-2")
    assert GatewaySettings().otel_service_name == "gw-2"


def test_bus_namespace_refuses_subject_syntax():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ServiceSettings(bus_namespace="a.b>")


def test_urls_in_logs_carry_no_credentials():
    from revue.common.settings import redacted_url

    assert redacted_url("nats://gateway:s3cret@nats:4222") == "nats://nats:4222"
    assert redacted_url("postgresql+asyncpg://revue:pw@db:5432/revue") == (
        "postgresql+asyncpg://db:5432/revue"
    )
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_broker_logs_the_nats_url_redacted(monkeypatch):
    import inspect

    from revue.common.bus import broker

    source = inspect.getsource(broker.create_broker)
    assert "url=settings.nats_url" not in source and "redacted_url(settings.nats_url)" in source
