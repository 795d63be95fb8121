"""The embedded servers are real: they answer their protocol and leave nothing behind."""

import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from revue.devkit.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedRedis
from revue.devkit.embedded.probes import nats_answers, postgres_answers, redis_answers
from revue.devkit.embedded.stack import resolve_infrastructure
from revue.devkit.testing.waiting import wait_until_sync


@pytest.mark.parametrize(
    ("server_class", "answers"),
    [(EmbeddedNats, nats_answers), (EmbeddedRedis, redis_answers)],
)
def test_embedded_server_answers_then_stops(tmp_path, server_class, answers):
    server = server_class(tmp_path / "data").start()
    pid = server.process.pid
    assert answers(server.url)
    assert server.url.split("//")[1].startswith("127.0.0.1:")
    server.stop()
    assert not answers(server.url)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_embedded_postgres_initialises_once_and_restarts_on_its_data(tmp_path):
    with EmbeddedPostgres(tmp_path / "pg") as server:
        assert postgres_answers(server.url)
    assert not postgres_answers(server.url)
    with EmbeddedPostgres(tmp_path / "pg") as again:  # PG_VERSION exists: no initdb
        assert postgres_answers(again.url)


def test_only_servers_that_do_not_answer_are_started(tmp_path, redis_url):
    environ = {"REDIS_URL": redis_url, "NATS_URL": "nats://127.0.0.1:1"}
    infra = resolve_infrastructure(environ, tmp_path, kinds=("redis", "nats"))
    try:
        assert infra.sources == {"redis": "configured", "nats": "embedded"}
        assert infra.urls["redis"] == redis_url
        assert nats_answers(infra.urls["nats"])
        assert infra.env()["NATS_URL"] == infra.urls["nats"]
    finally:
        infra.stop()
    assert not nats_answers(infra.urls["nats"])


def test_servers_die_with_a_supervisor_killed_by_sigkill(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from revue.devkit.embedded import EmbeddedRedis
        server = EmbeddedRedis(Path({str(tmp_path)!r})).start()
        print(server.process.pid, server.url, flush=True)
        time.sleep(120)
        """
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid, url = supervisor.stdout.readline().split()
    assert redis_answers(url)
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(10)
    wait_until_sync(lambda: not redis_answers(url, timeout=0.2), timeout=10, message="redis gone")
    wait_until_sync(
        lambda: (
            not psutil.pid_exists(int(pid))
            or psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE
        ),
        timeout=10,
        message="process gone",
    )
