"""The `revue` command.

revue run       the whole suite (what `make run` calls)
revue infra     only NATS, Redis and PostgreSQL: configured, else embedded
revue migrate   bring every service's tables to the latest revision, declare the streams
revue nats-config  the NATS users and permissions, passwords read from `$<USER>_NATS_PASSWORD`
revue admin     grant / revoke / list administrators (the gateway's `revue-gateway admin`)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nats

from revue.common.bus.permissions import ADMIN, USERS, nats_config
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.subjects import BusTopology
from revue.common.embedded import resolve_infrastructure
from revue.common.embedded.probes import nats_answers
from revue.common.observability.logs import configure_logging
from revue.common.settings import DEFAULT_DATABASE_URL, ServiceSettings, redacted_url
from revue.common.suite import StopSignals, declare_streams, migrate_all, run
from revue.common.suite_secrets import SuiteSecrets


def _infra(root: Path) -> int:
    signals = StopSignals()
    signals.install()
    folder = root / ".revue"
    secrets = SuiteSecrets.load_or_create(folder)
    topology = BusTopology(os.environ.get("BUS_NAMESPACE", ""))
    infra = resolve_infrastructure(
        os.environ, folder, nats_authorization=nats_config(topology, secrets.nats_passwords())
    )
    try:
        exports = infra.env()
        if infra.sources["nats"] == "embedded":  # by hand, as the admin user
            declare_streams(exports["NATS_URL"], topology, secrets.nats_password(ADMIN))
            exports |= {"NATS_USER": ADMIN, "NATS_PASSWORD": secrets.nats_password(ADMIN)}
        for variable, value in exports.items():
            print(f"export {variable}={value}", flush=True)
        while not signals.stop:
            signals.sleep(1)
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
    parser.add_argument("command", choices=["run", "infra", "migrate", "admin", "nats-config"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="where .revue/ lives")
    args = parser.parse_args(argv)
    configure_logging("revue", os.environ.get("LOG_LEVEL", "INFO"), "console")
    if args.command == "run":
        return run(args.root)
    if args.command == "infra":
        return _infra(args.root)
    if args.command == "nats-config":
        print(compose_nats_config(BusTopology(os.environ.get("BUS_NAMESPACE", ""))), end="")
        return 0
    migrated = migrate_all(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    print("migrated:", ", ".join(migrated) or "nothing")
    settings = ServiceSettings()
    if not nats_answers(settings.nats_url):
        print("streams: NATS does not answer; each service declares them at start-up")
        return 0
    asyncio.run(declare_streams_with(settings))
    print("streams:", "declared on", redacted_url(settings.nats_url))
    return 0


def compose_nats_config(topology: BusTopology) -> str:
    """The users block with each password read from the server's environment."""
    return nats_config(topology, {user: f"${password_variable(user)}" for user in USERS})


def password_variable(user: str) -> str:
    return f"{user.upper().replace('-', '_')}_NATS_PASSWORD"


async def declare_streams_with(settings: ServiceSettings) -> None:
    """Streams declared by this process's NATS user (compose's migrate: the admin)."""
    connection = await nats.connect(**settings.nats_options())
    try:
        await ensure_streams(connection.jetstream(), BusTopology(settings.bus_namespace))
    finally:
        await connection.drain()


if __name__ == "__main__":
    sys.exit(main())
