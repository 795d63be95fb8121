"""`revue run` (what `make run` calls): five real processes up, and nothing left after Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import psutil
import pytest

from revue.common.embedded.probes import free_port
from revue.common.suite import SERVICES
from revue.common.testing.waiting import wait_until_sync

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
        children = descendants(runner.pid)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(60) == 0
        wait_all_gone(children)
        assert (tmp_path / ".revue" / "postgres" / "pgdata" / "PG_VERSION").exists()
    finally:
        if runner.poll() is None:
            runner.kill()
