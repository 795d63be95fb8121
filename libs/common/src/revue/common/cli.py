"""The `revue` command.

revue run       the whole suite (what `make run` calls)
revue infra     only NATS, Redis and PostgreSQL: configured, else embedded
revue migrate   bring every service's tables to the latest revision
revue admin     grant / revoke / list administrators (the gateway's `revue-gateway admin`)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from revue.common.embedded import resolve_infrastructure
from revue.common.logs import configure_logging
from revue.common.settings import DEFAULT_DATABASE_URL
from revue.common.suite import migrate_all, run


def _infra(root: Path) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    infra = resolve_infrastructure(os.environ, root / ".revue")
    try:
        for variable, url in infra.env().items():
            print(f"export {variable}={url}", flush=True)
        stop.wait()
    finally:
        infra.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:
        # The gateway owns the users table: its own command does the work.
        command = [sys.executable, "-m", "revue.gateway.admin", *argv]
        return subprocess.run(command, check=False).returncode  # noqa: S603 - our own module
    parser = argparse.ArgumentParser(prog="revue", description="Run the Revue suite.")
    parser.add_argument("command", choices=["run", "infra", "migrate", "admin"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="where .revue/ lives")
    args = parser.parse_args(argv)
    configure_logging("revue", os.environ.get("LOG_LEVEL", "INFO"), "console")
    if args.command == "run":
        return run(args.root)
    if args.command == "infra":
        return _infra(args.root)
    migrated = migrate_all(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    print("migrated:", ", ".join(migrated) or "nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
