"""`revue run`: the whole suite on one machine, as one supervised process tree.

Order matters both ways. Up: secrets (made once, kept in `.revue/`), then
infrastructure (configured or embedded; an embedded NATS starts with one
user per service, see `bus_permissions`), then migrations and streams, then
the five services, each waited on until its `/readyz` answers 200. While it
runs, a service that dies is started again (with a growing pause, at most
`MAX_RESTARTS` in `RESTART_WINDOW` seconds; past that the suite stops) and
the others keep serving. Down (Ctrl-C, SIGTERM): services first, so they
finish in-flight work against live servers, then the embedded servers; a
second signal means "stop now" (everything is killed). Children run in
their own sessions and die with the supervisor, so nothing outlives it.

Signals only bump a counter: a handler that takes a lock (`Event.set`) can
be re-entered by a second signal while it holds it, and deadlock.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nats
import structlog

from revue.common.bus.permissions import ADMIN, nats_config
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.services import SERVICES, ServiceSpec
from revue.common.contracts.subjects import BusTopology
from revue.common.db.migrations import migrate_all
from revue.common.process import die_with_parent
from revue.devkit.embedded import Infrastructure, resolve_infrastructure
from revue.devkit.secrets import SuiteSecrets

log = structlog.get_logger("revue.suite")
MAX_RESTARTS = 5  # per service within the window; more means it keeps dying
RESTART_WINDOW = 60.0
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 10.0


class StopSignals:
    """SIGINT/SIGTERM counted, nothing else: safe however often and whenever they come."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._received)

    def _received(self, *_: object) -> None:
        self.count += 1

    @property
    def stop(self) -> bool:
        return self.count >= 1

    @property
    def now(self) -> bool:
        """A second signal: stop without waiting for anyone."""
        return self.count >= 2

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a signal asks to stop."""
        deadline = time.monotonic() + seconds
        seen = self.count
        while self.count == seen and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))


def ready(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class GivingUpError(RuntimeError):
    """A service kept dying: restarting it again would only hide the fault."""


@dataclass
class Supervised:
    spec: ServiceSpec
    process: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)
    due: float | None = None  # when to start it again, once it died
    backoff: float = FIRST_BACKOFF


class Suite:
    """The running services of one `revue run`, restarted when they die."""

    def __init__(
        self,
        environ: Mapping[str, str],
        services: tuple[ServiceSpec, ...] = SERVICES,
        per_service: Mapping[str, Mapping[str, str]] | None = None,
        signals: StopSignals | None = None,
    ) -> None:
        self.environ = dict(environ)
        self.per_service = per_service or {}
        self.signals = signals or StopSignals()
        self.services = {spec.name: Supervised(spec) for spec in services}

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: s.process for name, s in self.services.items() if s.process is not None}

    def _launch(self, supervised: Supervised) -> None:
        spec = supervised.spec
        env = {
            **self.environ,
            **self.per_service.get(spec.name, {}),
            "OTEL_SERVICE_NAME": f"revue-{spec.name}",
        }
        supervised.process = subprocess.Popen(  # noqa: S603 - our own modules
            [sys.executable, "-m", spec.module],
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )

    def start(self, timeout: float = 90.0) -> None:
        for supervised in self.services.values():
            self._launch(supervised)
        deadline = time.monotonic() + timeout
        waiting = {name: s.spec.port(self.environ) for name, s in self.services.items()}
        while waiting and time.monotonic() < deadline and not self.signals.stop:
            for name, port in list(waiting.items()):
                process = self.services[name].process
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}")
                if ready(port):
                    log.info("service ready", service=name, port=port)
                    del waiting[name]
            self.signals.sleep(0.2)
        if waiting and not self.signals.stop:
            raise TimeoutError(f"not ready after {timeout} s: {', '.join(waiting)}")

    def supervise(self) -> None:
        """Notice dead services and start them again when their pause is over."""
        now = time.monotonic()
        for name, supervised in self.services.items():
            process = supervised.process
            if process is not None and process.poll() is not None:
                while supervised.restarts and now - supervised.restarts[0] > RESTART_WINDOW:
                    supervised.restarts.popleft()
                if len(supervised.restarts) >= MAX_RESTARTS:
                    raise GivingUpError(
                        f"{name} died {MAX_RESTARTS + 1} times within {RESTART_WINDOW:g} s"
                    )
                supervised.due = now + supervised.backoff
                log.error(
                    "service died; restarting",
                    service=name,
                    returncode=process.returncode,
                    after_s=supervised.backoff,
                    restarts_in_window=len(supervised.restarts),
                )
                supervised.process = None
            if supervised.process is None and supervised.due is not None and now >= supervised.due:
                supervised.restarts.append(now)
                supervised.backoff = min(supervised.backoff * 2, MAX_BACKOFF)
                supervised.due = None
                self._launch(supervised)
                log.info("service restarted", service=name, pid=supervised.process.pid)
            elif supervised.restarts and now - supervised.restarts[-1] > RESTART_WINDOW:
                supervised.backoff = FIRST_BACKOFF  # it has stayed up: forgive

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to all, then wait; a second signal (or the timeout) kills what is left."""
        running = list(self.processes.items())
        for _, process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, process in running:
            while process.poll() is None and time.monotonic() < deadline and not self.signals.now:
                time.sleep(0.05)
            if process.poll() is None:
                log.warning("service did not stop in time; killing", service=name)
                process.kill()
                process.wait(5)
        for supervised in self.services.values():
            supervised.process = None


def banner(environ: Mapping[str, str], infra: Infrastructure, secrets_file: Path) -> str:
    port = SERVICES[0].port(environ)
    where = ", ".join(f"{name}: {infra.sources[name]}" for name in infra.urls)
    return (
        f"\nRevue is running ({where}).\n"
        f"  gateway   http://127.0.0.1:{port}\n"
        f"  API docs  http://127.0.0.1:{port}/docs\n"
        f"  readiness curl -s http://127.0.0.1:{port}/readyz\n"
        f"  secrets   {secrets_file} (JWT_SECRET, CDN_ADMIN_TOKEN, NATS users)\n"
        "Press Ctrl-C to stop (twice: at once).\n"
    )


def declare_streams(url: str, topology: BusTopology, password: str) -> None:
    """Streams declared once, as the admin user: services may not change them."""

    async def declare() -> None:
        connection = await nats.connect(url, user=ADMIN, password=password)
        try:
            await ensure_streams(connection.jetstream(), topology)
        finally:
            await connection.drain()

    asyncio.run(declare())


def bus_users(
    secrets: SuiteSecrets, services: tuple[ServiceSpec, ...] = SERVICES
) -> dict[str, dict[str, str]]:
    """Each service's own NATS user, and no stream management of its own."""
    return {
        spec.name: {
            "NATS_USER": spec.name,
            "NATS_PASSWORD": secrets.nats_password(spec.name),
            "BUS_MANAGE_STREAMS": "false",
        }
        for spec in services
    }


def run(root: Path, environ: Mapping[str, str] | None = None) -> int:
    """Start everything, keep it running, stop everything on a signal or a hopeless service."""
    environ = dict(os.environ if environ is None else environ)
    signals = StopSignals()
    signals.install()
    folder = root / ".revue"
    secrets = SuiteSecrets.load_or_create(folder)
    topology = BusTopology(environ.get("BUS_NAMESPACE", ""))
    infra = resolve_infrastructure(
        environ, folder, nats_authorization=nats_config(topology, secrets.nats_passwords())
    )
    suite: Suite | None = None
    status = 0
    try:
        environ.update(infra.env())
        for name, value in secrets.environment().items():
            environ.setdefault(name, value)
        per_service: dict[str, dict[str, str]] = {}
        if infra.sources["nats"] == "embedded":  # ours, with a user per service
            declare_streams(environ["NATS_URL"], topology, secrets.nats_password(ADMIN))
            per_service = bus_users(secrets)
        log.info("migrated", services=migrate_all(environ["DATABASE_URL"]))
        suite = Suite(environ, per_service=per_service, signals=signals)
        suite.start()
        if not signals.stop:
            print(banner(environ, infra, folder / "secrets.json"), flush=True)
        while not signals.stop:
            suite.supervise()
            signals.sleep(0.2)
    except Exception as error:
        log.error("suite failed", error=str(error))
        status = 1
    finally:
        if suite is not None:
            suite.stop()
        infra.stop()
        log.info("stopped")
    return status
