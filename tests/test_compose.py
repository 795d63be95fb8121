"""docker-compose.yml and the Dockerfile describe the whole suite (no engine runs here)."""

import re
from pathlib import Path

import pytest
import yaml

from revue.common.contracts.services import SERVICES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_infrastructure_services_are_declared_with_healthchecks(compose):
    services = compose["services"]
    assert "-js" in services["nats"]["command"]
    for name in ("nats", "redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    jaeger = services["jaeger"]
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert {"16686:16686", "4318:4318"} <= {str(p).split()[0] for p in jaeger["ports"]}


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
def test_each_revue_service_is_wired(compose, spec):
    service = compose["services"][spec.name]
    assert service["build"] == "."
    assert service["command"][-1] == spec.module
    environment = service["environment"]
    assert environment["NATS_URL"] == "nats://nats:4222"
    assert environment["REDIS_URL"].startswith("redis://redis:6379")
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert environment["OTEL_SERVICE_NAME"] == f"revue-{spec.name}"
    assert environment[spec.port_variable] == str(spec.default_port)
    assert environment["HTTP_HOST"] == "0.0.0.0"
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{spec.default_port}/readyz" in probe
    for dependency in ("nats", "redis", "postgres"):
        assert service["depends_on"][dependency]["condition"] == "service_healthy"
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_migrations_run_once_before_the_services(compose):
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["revue", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_no_password_is_written_into_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.findall(r"POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD:\?", text)
    assert not re.search(r"postgresql\+asyncpg://\w+:(?!\$\{)[^@]+@", text)


@pytest.mark.parametrize(
    ("service", "variable"), [("cdn", "CDN_ADMIN_TOKEN"), ("gateway", "JWT_SECRET")]
)
def test_secrets_are_required_and_never_default_to_empty(compose, service, variable):
    value = compose["services"][service]["environment"][variable]
    assert value.startswith(f"${{{variable}:?"), value  # unset refuses to start, never ''
    makefile = (ROOT / "Makefile").read_text()
    assert variable in re.search(r"COMPOSE_SECRETS := (.*)", makefile).group(1).split()


def test_dockerfile_installs_production_dependencies_before_the_members_and_no_devkit():
    text = (ROOT / "Dockerfile").read_text()
    lock_layer = text.index("COPY requirements-production.lock")
    members_layer = text.index("COPY libs/common")
    assert lock_layer < text.index("--require-hashes") < members_layer
    assert "--no-deps" in text[members_layer:]
    assert "devkit" not in text.replace("not libs/devkit", "").replace("no revue-devkit", "")
    assert "requirements.lock" not in text
    assert "USER revue" in text


def test_prometheus_scrapes_every_service_and_loads_the_alert_rules(compose):
    prometheus = compose["services"]["prometheus"]
    mounts = " ".join(prometheus["volumes"])
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml" in mounts
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    targets = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets.update(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            targets.update(f"{name}:{dns['port']}" for name in dns["names"])
    assert targets == {f"{spec.name}:{spec.default_port}" for spec in SERVICES}


def test_grafana_gets_prometheus_jaeger_and_the_dashboard(compose):
    grafana = compose["services"]["grafana"]
    mounts = " ".join(grafana["volumes"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning" in mounts
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards" in mounts
    assert "${GRAFANA_ADMIN_PASSWORD:?" in grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    sources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    assert {s["url"] for s in sources} == {"http://prometheus:9090", "http://jaeger:16686"}
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/revue.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (ROOT / "deploy/grafana/dashboards/revue.json").is_file()


def test_each_service_connects_to_nats_as_its_own_user(compose):
    from revue.common.bus.permissions import USERS
    from revue.common.cli import compose_nats_config, password_variable
    from revue.common.contracts.subjects import BusTopology

    services = compose["services"]
    nats = services["nats"]
    assert "/etc/nats/revue.conf" in nats["command"]
    assert "./deploy/nats/revue.conf:/etc/nats/revue.conf:ro" in nats["volumes"]
    # The mounted file is what the code renders (`revue nats-config > deploy/nats/revue.conf`).
    assert (ROOT / "deploy/nats/revue.conf").read_text() == compose_nats_config(BusTopology(""))
    makefile = (ROOT / "Makefile").read_text()
    generated = re.search(r"COMPOSE_SECRETS := ((?:.|\\\n)*?)\n\n", makefile).group(1).split()
    for user in USERS:
        variable = password_variable(user)
        assert nats["environment"][variable].startswith(f"${{{variable}:?")
        assert variable in generated
    for spec in SERVICES:
        environment = services[spec.name]["environment"]
        assert environment["NATS_USER"] == spec.name
        assert environment["NATS_PASSWORD"].startswith(f"${{{password_variable(spec.name)}:?")
        assert environment["BUS_MANAGE_STREAMS"] == "false"
    migrate = services["migrate"]
    assert migrate["environment"]["NATS_USER"] == "admin"
    assert migrate["depends_on"]["nats"]["condition"] == "service_healthy"
