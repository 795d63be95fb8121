"""Revue services as real processes for suite-level tests: start, wait ready, stop or kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway_with_analysis import RELAXED_LIMITS

from revue.common.contracts.services import SERVICES
from revue.common.db.migrations import migrate_all
from revue.devkit.embedded.probes import free_port
from revue.devkit.suite import ready
from revue.devkit.testing.waiting import wait_until_sync

SPECS = {spec.name: spec for spec in SERVICES}


@dataclass
class Services:
    env: dict[str, str]
    log_dir: Path | None = None  # each process's stderr (its JSON log) goes to <name>.log
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, key: str | None = None, **extra_env: str) -> subprocess.Popen:
        """Start service `name`; `key` names a second instance (default: the name)."""
        spec, key = SPECS[name], key or name
        self.ports.setdefault(key, free_port())
        env = {**self.env, spec.port_variable: str(self.ports[key]), **extra_env}
        stderr = None if self.log_dir is None else (self.log_dir / f"{key}.log").open("ab")
        # Its own process group: a kill takes its helpers (the analyzer pool) with it.
        process = subprocess.Popen(
            [sys.executable, "-m", spec.module], env=env, stderr=stderr, start_new_session=True
        )
        if stderr is not None:
            stderr.close()  # the child holds its own descriptor
        self.processes[key] = process
        wait_until_sync(
            lambda: process.poll() is None and ready(self.ports[key]),
            timeout=90,
            message=f"{key} ready",
        )
        return process

    def kill(self, name: str) -> None:
        """SIGKILL to the service and its helper processes, as when its container dies."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def stop_all(self) -> dict[str, int]:
        for process in self.processes.values():
            process.terminate()
        codes = {name: process.wait(60) for name, process in self.processes.items()}
        self.processes.clear()
        return codes


@contextlib.asynccontextmanager
async def running_services(
    service_env: dict[str, str],
    names: tuple[str, ...],
    log_dir: Path | None = None,
    **extra_env: str,
) -> AsyncIterator[Services]:
    """Migrate, then start `names` in order; terminate them all at the end."""
    await asyncio.to_thread(migrate_all, service_env["DATABASE_URL"])
    env = {
        **service_env,
        "LOG_LEVEL": "WARNING",
        **{key.upper(): str(value) for key, value in RELAXED_LIMITS.items()},
        **extra_env,
    }
    services = Services(env, log_dir)
    try:
        for name in names:
            await asyncio.to_thread(services.start, name)
        yield services
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(services.stop_all)
        for process in services.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
