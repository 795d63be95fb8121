"""`revue run`: the whole suite on one machine, as one supervised process tree.

Order matters both ways. Up: infrastructure (configured or embedded), then
migrations, then the five services, each waited on until its `/readyz`
answers 200. Down (Ctrl-C, SIGTERM, or any service dying): services first, so
they finish in-flight work against live servers, then the embedded servers.
Children run in their own sessions and die with the supervisor, so nothing
outlives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from revue.common import migrations
from revue.common.embedded import Infrastructure, resolve_infrastructure
from revue.common.embedded.servers import _die_with_parent

log = structlog.get_logger("revue.suite")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port_variable: str
    default_port: int

    def port(self, environ: Mapping[str, str]) -> int:
        return int(environ.get(self.port_variable, self.default_port))


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("gateway", "revue.gateway", "GATEWAY_PORT", 8000),
    ServiceSpec("analysis", "revue.analysis", "ANALYSIS_PORT", 8001),
    ServiceSpec("cache", "revue.cache", "CACHE_PORT", 8002),
    ServiceSpec("query-optimizer", "revue.query_optimizer", "QUERY_OPTIMIZER_PORT", 8003),
    ServiceSpec("cdn", "revue.cdn", "CDN_PORT", 8004),
)


def migrate_all(database_url: str, services: tuple[ServiceSpec, ...] = SERVICES) -> list[str]:
    """Upgrade every service that owns tables; return the ones migrated."""
    done = []
    for spec in services:
        if migrations.has_migrations(spec.module):
            migrations.upgrade(spec.module, database_url)
            done.append(spec.name)
    return done


def ready(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Suite:
    """The running services of one `revue run`."""

    def __init__(
        self, environ: Mapping[str, str], services: tuple[ServiceSpec, ...] = SERVICES
    ) -> None:
        self.environ = dict(environ)
        self.services = services
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, timeout: float = 90.0) -> None:
        for spec in self.services:
            env = {**self.environ, "OTEL_SERVICE_NAME": f"revue-{spec.name}"}
            self.processes[spec.name] = subprocess.Popen(  # noqa: S603 - our own modules
                [sys.executable, "-m", spec.module],
                env=env,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )
        deadline = time.monotonic() + timeout
        waiting = {spec.name: spec.port(self.environ) for spec in self.services}
        while waiting and time.monotonic() < deadline:
            for name, port in list(waiting.items()):
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with {self.processes[name].returncode}")
                if ready(port):
                    log.info("service ready", service=name, port=port)
                    del waiting[name]
            time.sleep(0.2)
        if waiting:
            raise TimeoutError(f"not ready after {timeout} s: {', '.join(waiting)}")

    def first_exited(self) -> str | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self, timeout: float = 20.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, process in self.processes.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("service did not stop in time; killing", service=name)
                process.kill()
                process.wait(5)
        self.processes.clear()


def banner(environ: Mapping[str, str], infra: Infrastructure) -> str:
    port = SERVICES[0].port(environ)
    where = ", ".join(f"{name}: {infra.sources[name]}" for name in infra.urls)
    return (
        f"\nRevue is running ({where}).\n"
        f"  gateway   http://127.0.0.1:{port}\n"
        f"  API docs  http://127.0.0.1:{port}/docs\n"
        f"  readiness curl -s http://127.0.0.1:{port}/readyz\n"
        "Press Ctrl-C to stop.\n"
    )


def run(root: Path, environ: Mapping[str, str] | None = None) -> int:
    """Start everything, wait for a stop signal or a dead service, stop everything."""
    environ = dict(os.environ if environ is None else environ)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    infra = resolve_infrastructure(environ, root / ".revue")
    suite: Suite | None = None
    status = 0
    try:
        environ.update(infra.env())
        log.info("migrated", services=migrate_all(environ["DATABASE_URL"]))
        suite = Suite(environ)
        suite.start()
        print(banner(environ, infra), flush=True)
        while not stop.wait(0.5):
            dead = suite.first_exited()
            if dead:
                log.error("service exited; stopping the suite", service=dead)
                status = 1
                break
    except Exception as error:
        log.error("suite failed", error=str(error))
        status = 1
    finally:
        if suite is not None:
            suite.stop()
        infra.stop()
        log.info("stopped")
    return status
