"""`revue run` and `revue infra`, added to the `revue` command by this distribution.

revue run     the whole suite on this machine (what `make run` calls)
revue infra   only NATS, Redis and PostgreSQL: configured, else embedded; prints their exports
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from revue.common.bus.permissions import ADMIN, nats_config
from revue.common.contracts.subjects import BusTopology
from revue.devkit.embedded import resolve_infrastructure
from revue.devkit.secrets import SuiteSecrets
from revue.devkit.suite import StopSignals, declare_streams, run


def root_of(argv: list[str], command: str) -> Path:
    parser = argparse.ArgumentParser(prog=f"revue {command}")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="where .revue/ lives")
    return parser.parse_args(argv).root


def run_command(argv: list[str]) -> int:
    return run(root_of(argv, "run"))


def infra_command(argv: list[str]) -> int:
    root = root_of(argv, "infra")
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
