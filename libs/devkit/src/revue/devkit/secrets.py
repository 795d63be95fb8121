"""The secrets `revue run` makes once and keeps: `.revue/secrets.json`, owner-only.

A restart must not change them: a random `JWT_SECRET` per process made every
token invalid after a service came back, and the embedded NATS's users must
keep their passwords across runs of the same data folder. Values already in
the environment win (`JWT_SECRET=... make run`).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from revue.common.bus.permissions import USERS

GENERATED = ("JWT_SECRET", "CDN_ADMIN_TOKEN")


@dataclass(frozen=True)
class SuiteSecrets:
    values: dict[str, str]

    @classmethod
    def load_or_create(cls, folder: Path) -> SuiteSecrets:
        path = folder / "secrets.json"
        try:
            values = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            values = {}
        wanted = [*GENERATED, *(nats_key(user) for user in USERS)]
        if any(name not in values for name in wanted):
            for name in wanted:
                values.setdefault(name, secrets.token_urlsafe(32))
            folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump(values, out, indent=1)
        return cls(values)

    def environment(self) -> dict[str, str]:
        """The suite-wide secrets, as the services read them."""
        return {name: self.values[name] for name in GENERATED}

    def nats_password(self, user: str) -> str:
        return self.values[nats_key(user)]

    def nats_passwords(self) -> dict[str, str]:
        return {user: self.nats_password(user) for user in USERS}


def nats_key(user: str) -> str:
    return f"NATS_PASSWORD_{user.upper().replace('-', '_')}"
