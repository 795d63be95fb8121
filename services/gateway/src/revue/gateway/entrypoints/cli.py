"""`revue-gateway admin grant|revoke|list`: administrators are made by an operator, not by email.

Registering an address proves nothing about who holds it, so no setting
turns a self-registered account into an administrator; an operator with
access to the gateway's database grants (or revokes) the role by hand. The
change holds at once: admin routes read the role from the database on every
request, not from the access token.

    revue-gateway admin grant ada@example.com
    revue-gateway admin revoke ada@example.com
    revue-gateway admin list
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from revue.common.db.engine import create_engine
from revue.gateway.adapters.accounts import Accounts, NoSuchUserError
from revue.gateway.settings import GatewaySettings


async def run(command: str, email: str | None, settings: GatewaySettings) -> int:
    engine = create_engine(settings)
    accounts = Accounts(engine)
    try:
        if command == "list":
            for address in await accounts.administrators():
                print(address)
            return 0
        assert email is not None
        try:
            await accounts.set_admin(email, command == "grant")
        except NoSuchUserError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"{email}: administrator {'granted' if command == 'grant' else 'revoked'}")
        return 0
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revue-gateway", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="group", required=True)
    admin = commands.add_parser("admin", help="grant, revoke or list administrators")
    action = admin.add_subparsers(dest="command", required=True)
    for name in ("grant", "revoke"):
        action.add_parser(name, help=f"{name} the administrator role").add_argument("email")
    action.add_parser("list", help="the administrators' emails")
    arguments = parser.parse_args(argv)
    return asyncio.run(run(arguments.command, getattr(arguments, "email", None), GatewaySettings()))


if __name__ == "__main__":
    sys.exit(main())
