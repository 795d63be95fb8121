"""Find a NATS, Redis and PostgreSQL for a test session.

In order: the configured server (its URL variable, else the local default)
when it answers; else a testcontainers container when a Docker engine
answers; else the embedded server from pip. Whatever this module starts, it
stops at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revue.devkit.embedded.stack import KINDS

IMAGES = {"nats": "nats:2.10-alpine", "redis": "redis:7-alpine", "postgres": "postgres:15-alpine"}


@dataclass
class TestServers:
    urls: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    _stops: list[Callable[[], Any]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):  # best effort at session end
                stop()
        self._stops.clear()


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no engine: all mean "no Docker"
        return False


def _container(name: str) -> tuple[str, Callable[[], Any]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    if name == "postgres":
        from testcontainers.postgres import PostgresContainer

        password = secrets.token_hex(12)
        pg = PostgresContainer(IMAGES[name], username="postgres", password=password, driver=None)
        pg.start()
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        return f"postgresql+asyncpg://postgres:{password}@{host}:{port}/postgres", pg.stop
    if name == "redis":
        from testcontainers.redis import RedisContainer

        rd = RedisContainer(IMAGES[name])
        rd.start()
        return f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0", rd.stop
    nats = DockerContainer(IMAGES[name]).with_command("-js").with_exposed_ports(4222)
    nats.start()
    wait_for_logs(nats, "Server is ready", timeout=30)
    return f"nats://{nats.get_container_host_ip()}:{nats.get_exposed_port(4222)}", nats.stop


def find_servers(environ: dict[str, str] | None = None) -> TestServers:
    environ = dict(os.environ if environ is None else environ)
    found = TestServers()
    use_docker: bool | None = None
    data_root: Path | None = None
    try:
        for name, kind in KINDS.items():
            url = environ.get(kind.variable) or kind.default
            if kind.answers(url):
                found.urls[name], found.sources[name] = url, "configured"
                continue
            if use_docker is None:
                use_docker = docker_answers()
            if use_docker:
                found.urls[name], stop = _container(name)
                found.sources[name] = "testcontainers"
                found._stops.append(stop)
                continue
            if data_root is None:
                data_root = Path(tempfile.mkdtemp(prefix="revue-test-"))
                found._stops.append(lambda root=data_root: shutil.rmtree(root, True))
            server = kind.server(data_root / name).start()
            found._stops.append(server.stop)
            found.urls[name], found.sources[name] = server.url, "embedded"
    except BaseException:
        found.stop()
        raise
    return found
