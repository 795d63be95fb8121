"""`revue run` (what `make run` calls): five real processes up, and nothing left after Ctrl-C."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
import uuid

import httpx
import psutil
import pytest

from revue.common.contracts.services import SERVICES
from revue.devkit.embedded.probes import free_port
from revue.devkit.suite import ready
from revue.devkit.testing.waiting import wait_until_sync

pytestmark = pytest.mark.suite


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def start_suite(root, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`revue run` as a process, and everything it printed up to its banner."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "revue.common.cli", "run", "--root", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = ""
    for line in runner.stdout:
        banner += line
        if "Press Ctrl-C" in line:
            break
    return runner, banner


ANALYSIS = {"code": "import os\nos.system(input())\n", "language": "python"}
PASSWORD = "Correct-Horse-Battery-9"


def account(client: httpx.Client) -> dict[str, str]:
    email = f"run-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "full_name": "Run User"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    tokens = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def finished(client: httpx.Client, location: str, headers: dict[str, str]) -> bool:
    return client.get(location, headers=headers).json().get("status") in ("succeeded", "failed")


def service_process(runner_pid: int, module: str) -> psutil.Process | None:
    for child in descendants(runner_pid):
        try:
            if child.cmdline()[-2:] == ["-m", module] and child.status() != "zombie":
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def wait_all_gone(children: list[psutil.Process]) -> None:
    wait_until_sync(
        lambda: not any(child.is_running() and child.status() != "zombie" for child in children),
        timeout=30,
        message="every child process gone",
    )


def test_revue_run_starts_the_suite_and_ctrl_c_stops_everything(tmp_path, service_env):
    ports = {spec.port_variable: str(free_port()) for spec in SERVICES}
    env = {**service_env, **ports, "LOG_LEVEL": "WARNING"}
    runner, banner = start_suite(tmp_path, env)
    try:
        gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
        assert f"{gateway}/docs" in banner, banner
        children = descendants(runner.pid)
        assert len(children) >= len(SERVICES)
        with urllib.request.urlopen(f"{gateway}/readyz", timeout=5) as response:
            body = json.load(response)
        assert {name: check["status"] for name, check in body["checks"].items()} == {
            "nats": "up",
            "redis": "up",
            "postgres": "up",
        }
        for spec in SERVICES:
            url = f"http://127.0.0.1:{ports[spec.port_variable]}/healthz"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200

        runner.send_signal(signal.SIGINT)
        assert runner.wait(60) == 0
        wait_all_gone(children)
    finally:
        if runner.poll() is None:
            runner.kill()
        for child in descendants(runner.pid):
            child.kill()
    assert "Traceback" not in banner + (runner.stdout.read() or "")


def test_revue_run_uses_embedded_servers_when_none_answers(tmp_path):
    env = {
        **os.environ,
        "NATS_URL": "nats://127.0.0.1:1",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": "postgresql+asyncpg://x@127.0.0.1:1/x",
        "BUS_NAMESPACE": "",
        "LOG_LEVEL": "WARNING",
        **{spec.port_variable: str(free_port()) for spec in SERVICES},
    }
    runner, banner = start_suite(tmp_path, env)
    try:
        assert "nats: embedded, redis: embedded, postgres: embedded" in banner, banner
        gateway = env["GATEWAY_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway}/readyz", timeout=5) as response:
            assert response.status == 200
        # The embedded NATS has a user per service: the whole path works within the grants.
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway}", timeout=30) as client:
            headers = account(client)
            answer = client.post("/api/v1/analyze", json=ANALYSIS, headers=headers)
            assert answer.status_code == 200, answer.text
            job = client.post("/api/v1/analyses", json=ANALYSIS, headers=headers)
            assert job.status_code == 202, job.text
            wait_until_sync(
                lambda: finished(client, job.json()["location"], headers),
                timeout=60,
                message="the job completed",
            )
        secrets_file = tmp_path / ".revue" / "secrets.json"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        children = descendants(runner.pid)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(60) == 0
        wait_all_gone(children)
        assert (tmp_path / ".revue" / "postgres" / "pgdata" / "PG_VERSION").exists()
    finally:
        if runner.poll() is None:
            runner.kill()


def test_a_killed_service_is_restarted_and_the_suite_serves_again_with_the_same_tokens(
    tmp_path, service_env
):
    ports = {spec.port_variable: str(free_port()) for spec in SERVICES}
    # Polling sixty jobs would otherwise meet the per-user rate limit.
    limits = {"RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_BURST": "10000"}
    env = {**service_env, **ports, **limits, "LOG_LEVEL": "WARNING"}
    env.pop("JWT_SECRET", None)  # the suite's own, kept in .revue/
    runner, _ = start_suite(tmp_path, env)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{ports['GATEWAY_PORT']}", timeout=30
        ) as client:
            headers = account(client)
            jobs = []
            analysis = service_process(runner.pid, "revue.analysis")
            for index in range(60):  # jobs keep coming while the worker is killed
                answer = client.post(
                    "/api/v1/analyses",
                    json={**ANALYSIS, "code": f"x = {index}\n" + ANALYSIS["code"]},
                    headers=headers,
                )
                assert answer.status_code == 202, answer.text
                jobs.append(answer.json()["location"])
                if index == 20:
                    analysis.send_signal(signal.SIGKILL)
            wait_until_sync(
                lambda: (
                    (p := service_process(runner.pid, "revue.analysis")) and p.pid != analysis.pid
                ),
                timeout=30,
                message="the analysis service restarted",
            )
            wait_until_sync(
                lambda: all(finished(client, job, headers) for job in jobs),
                timeout=120,
                interval=0.5,
                message="every job completed",
            )
            # The gateway too: after its restart, tokens issued before still hold.
            gateway = service_process(runner.pid, "revue.gateway")
            gateway.send_signal(signal.SIGKILL)
            wait_until_sync(
                lambda: (
                    (p := service_process(runner.pid, "revue.gateway"))
                    and p.pid != gateway.pid
                    and ready(int(ports["GATEWAY_PORT"]))
                ),
                timeout=60,
                message="the gateway restarted",
            )
            assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
            statuses = {client.get(job, headers=headers).json()["status"] for job in jobs}
            assert statuses == {"succeeded"}
        assert runner.poll() is None  # the suite kept running throughout
        runner.send_signal(signal.SIGINT)
        assert runner.wait(60) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
        for child in descendants(runner.pid):
            child.kill()


def test_two_signals_in_quick_succession_stop_revue_run_at_once(tmp_path, service_env):
    ports = {spec.port_variable: str(free_port()) for spec in SERVICES}
    runner, _ = start_suite(tmp_path, {**service_env, **ports, "LOG_LEVEL": "WARNING"})
    try:
        children = descendants(runner.pid)
        started = time.monotonic()
        runner.send_signal(signal.SIGTERM)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(30) in (0, 1)
        assert time.monotonic() - started < 25
        wait_all_gone(children)
    finally:
        if runner.poll() is None:
            runner.kill()
        for child in descendants(runner.pid):
            child.kill()
