"""Metrics, alert rules, dashboard and logs of the running suite, checked against each other.

The five services run as real processes; the test drives real traffic (a
sync analysis and its cache hit, an async job, a refused request, a
malformed job published straight onto the bus), then reads every service's
`/metrics` and log. The alert rules and the dashboard may only name metrics
a service really exports, and no log line may carry a credential or the
code a client submitted.
"""

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import nats
import pytest
import yaml
from gateway_with_analysis import PASSWORD
from prometheus_client.parser import text_string_to_metric_families
from service_processes import running_services

from revue.common.contracts.subjects import BusTopology, Priority
from revue.devkit.testing.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "revue.json"

# The seeds' metric names (000, 001, 003, 004) and the issue's additions.
SEED_METRICS = {
    "ai_cache_hit_rate",
    "async_queue_size",
    "db_query_latency_bucket",
    "cdn_cache_hit_ratio",
    "retry_attempts_total",
    "retry_duration_seconds_bucket",
    "validation_errors_total",
    "validation_success_total",
    "cache_hits_total",
    "cache_misses_total",
    "db_pool_size",
    "db_pool_checked_out",
    "db_pool_overflow",
    "query_duration_seconds_bucket",
    "batch_requests_total",
    "batch_batches_total",
    "batch_size_bucket",
    "batch_wait_seconds_bucket",
    "batch_processing_seconds_bucket",
    "batch_efficiency_gain",
    "circuit_breaker_state",
    "jetstream_consumer_pending_messages",
    "jetstream_consumer_ack_pending_messages",
    "analysis_dead_letters_total",
    "http_requests_total",
    "http_request_duration_seconds_bucket",
}
PROMQL_WORDS = {
    "sum",
    "max",
    "rate",
    "increase",
    "deriv",
    "histogram_quantile",
    "label_replace",
    "and",
    "or",
    "by",
    "on",
}

promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (make install adds it)"
)


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expression = re.sub(r"\b(by|on)\s*\([^)]*\)", " ", expression)
    expression = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expression)
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expression))
    return {t for t in tokens if t not in PROMQL_WORDS and "_" in t}


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {f"{p['title']} [{t['refId']}]": t["expr"] for p in panels for t in p["targets"]}


@promtool
def test_alert_rules_are_valid_and_fire_when_they_should():
    def promtool_run(*arguments: str) -> str:
        done = subprocess.run(
            ["promtool", *arguments], cwd=PROMETHEUS, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "SUCCESS: 6 rules found" in promtool_run("check", "rules", "alerts.yml")
    promtool_run("test", "rules", "alerts_test.yml")
    assert set(alert_expressions()) >= {
        "LowCacheHitRate",
        "HighQueryLatency",
        "CircuitBreakerOpen",
        "DeadLettersGrowing",
    }


def test_metric_names_are_read_from_promql():
    assert metric_names(
        'sum by (job, le) (rate(http_request_duration_seconds_bucket{status=~"5.."}[5m]))'
    ) == {"http_request_duration_seconds_bucket"}


async def drive_traffic(gateway: str, nats_url: str, namespace: str) -> dict[str, str]:
    """Every kind of request the metrics count; returns what must never be logged."""
    secret_code = f"API_KEY = 'sk-{uuid.uuid4().hex}'\nprint(API_KEY)\n"
    email = f"obs-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Observed User"},
        )
        assert registered.status_code == 201
        token = (
            await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        ).json()["access_token"]
        user = {"Authorization": f"Bearer {token}"}
        body = {"code": secret_code, "language": "python"}
        for _ in range(2):  # a miss, then a hit
            assert (await client.post("/api/v1/analyze", json=body, headers=user)).is_success
        refused = await client.post("/api/v1/analyze", json={"code": ""}, headers=user)
        assert refused.status_code == 422
        accepted = await client.post(
            "/api/v1/analyses", json={**body, "code": secret_code + "# async\n"}, headers=user
        )
        assert accepted.status_code == 202

        async def finished() -> bool:
            view = (await client.get(accepted.headers["location"], headers=user)).json()
            return view["status"] != "queued"

        await wait_until(finished, timeout=30, message="async job finished")
    bus = await nats.connect(nats_url)
    try:  # a job nobody could have sent through the gateway: dead-lettered as malformed
        await bus.jetstream().publish(
            BusTopology(namespace).job_subject(Priority.LOW), b"{not json"
        )
    finally:
        await bus.drain()
    return {"password": PASSWORD, "token": token, "code": secret_code.splitlines()[0]}


async def scrape(url: str) -> set[str]:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


@pytest.mark.suite
async def test_the_running_suite_exports_what_alerts_and_dashboard_read(service_env, tmp_path):
    names = ("analysis", "cache", "query-optimizer", "cdn", "gateway")
    async with running_services(
        service_env, names, log_dir=tmp_path, LOG_LEVEL="INFO", CDN_STORE_DIR=str(tmp_path / "cdn")
    ) as services:
        secrets = await drive_traffic(
            services.url("gateway"), service_env["NATS_URL"], service_env["BUS_NAMESPACE"]
        )
        async with httpx.AsyncClient(timeout=10) as client:
            await client.get(f"{services.url('cdn')}/assets/missing.js")
            health = {
                name: (await client.get(f"{services.url(name)}/healthz")).status_code
                for name in names
            }

        async def dead_lettered() -> bool:
            return "analysis_dead_letters_total" in await scrape(services.url("analysis"))

        await wait_until(dead_lettered, timeout=30, message="the malformed job dead-lettered")
        exported = set().union(*[await scrape(services.url(name)) for name in names])
        codes = await asyncio.to_thread(services.stop_all)

    assert health == dict.fromkeys(names, 200)
    assert codes == dict.fromkeys(names, 0), "every service stops cleanly on SIGTERM"
    missing = SEED_METRICS - exported
    assert not missing, f"not exported: {sorted(missing)}"
    for source, expression in {**alert_expressions(), **dashboard_expressions()}.items():
        unknown = metric_names(expression) - exported
        assert not unknown, f"{source} reads metrics no service exports: {unknown}"

    lines = [line for name in names for line in (tmp_path / f"{name}.log").read_text().splitlines()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(record.get("service", "").startswith("revue-") for record in records)
    access = [r for r in records if r.get("logger") == "revue.access"]
    analyze = [r for r in access if r["route"] == "/api/v1/analyze"]
    print(f"{len(exported)} metric series names, {len(records)} log lines, {len(access)} access")
    assert len(analyze) == 3  # miss, hit (the fast lane), refused
    assert {r["status"] for r in analyze} == {200, 422}
    for record in access:
        assert record["request_id"] and record["trace_id"] and record["span_id"]
    text = "\n".join(lines)
    for kind, secret in secrets.items():
        assert secret not in text, f"the {kind} reached a log"
    assert "Bearer" not in text
