"""The `revue` command: what an operator runs against a deployment.

revue migrate      bring every service's tables to the latest revision, declare the streams
revue nats-config  the NATS users and permissions, passwords read from `$<USER>_NATS_PASSWORD`
revue admin        grant / revoke / list administrators (the gateway's `revue-gateway admin`)

Other distributions add commands through the `revue.commands` entry-point
group: revue-devkit adds `revue run` (the whole suite on this machine) and
`revue infra` (only its servers). A production install has neither.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

import nats
from nats.errors import NoServersError

from revue.common.bus.permissions import USERS, nats_config
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.subjects import BusTopology
from revue.common.db.migrations import migrate_all
from revue.common.observability.logs import configure_logging
from revue.common.settings import DEFAULT_DATABASE_URL, ServiceSettings, redacted_url

Command = Callable[[list[str]], int]
OWN_COMMANDS = ("migrate", "nats-config", "admin")


def added_commands() -> dict[str, Command]:
    """Commands other installed distributions add (`revue.commands` entry points)."""
    return {entry.name: entry.load() for entry in entry_points(group="revue.commands")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:
        # The gateway owns the users table: its own command does the work.
        command = [sys.executable, "-m", "revue.gateway.entrypoints.cli", *argv]
        return subprocess.run(command, check=False).returncode  # noqa: S603 - our own module
    added = added_commands()
    if argv[:1] and argv[0] in added:
        configure_logging("revue", os.environ.get("LOG_LEVEL", "INFO"), "console")
        return added[argv[0]](argv[1:])
    parser = argparse.ArgumentParser(prog="revue", description="Operate a Revue deployment.")
    devkit_commands = {"run", "infra"} - set(added)
    parser.add_argument(
        "command", choices=[*OWN_COMMANDS, *sorted(added), *sorted(devkit_commands)]
    )
    args, _ = parser.parse_known_args(argv)
    if args.command in ("run", "infra"):  # not added: revue-devkit is not installed
        parser.error(f"'revue {args.command}' comes with revue-devkit (make install installs it)")
    configure_logging("revue", os.environ.get("LOG_LEVEL", "INFO"), "console")
    if args.command == "nats-config":
        print(compose_nats_config(BusTopology(os.environ.get("BUS_NAMESPACE", ""))), end="")
        return 0
    return migrate()


def migrate() -> int:
    """Tables of every service, then the streams when NATS answers."""
    migrated = migrate_all(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    print("migrated:", ", ".join(migrated) or "nothing")
    settings = ServiceSettings()
    try:
        asyncio.run(declare_streams_with(settings))
    except (NoServersError, OSError, TimeoutError):
        print("streams: NATS does not answer; each service declares them at start-up")
        return 0
    print("streams:", "declared on", redacted_url(settings.nats_url))
    return 0


def compose_nats_config(topology: BusTopology) -> str:
    """The users block with each password read from the server's environment."""
    return nats_config(topology, {user: f"${password_variable(user)}" for user in USERS})


def password_variable(user: str) -> str:
    return f"{user.upper().replace('-', '_')}_NATS_PASSWORD"


async def declare_streams_with(settings: ServiceSettings) -> None:
    """Streams declared by this process's NATS user (compose's migrate: the admin)."""
    connection = await nats.connect(
        **settings.nats_options(), allow_reconnect=False, connect_timeout=2
    )
    try:
        await ensure_streams(connection.jetstream(), BusTopology(settings.bus_namespace))
    finally:
        await connection.drain()


if __name__ == "__main__":
    sys.exit(main())
