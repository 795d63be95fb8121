"""`revue config-docs`: docs/configuration.md, written from the settings classes themselves.

Every variable, its default and its description (the docstring under each
field) come from the code, so the page cannot drift from what the services
read; `tests/test_docs.py` fails when the committed page differs from what
this prints.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from revue.common.contracts.services import SERVICES
from revue.common.settings import ServiceSettings

SETTINGS_CLASSES = {
    "gateway": "GatewaySettings",
    "analysis": "AnalysisSettings",
    "cache": "CacheSettings",
    "query-optimizer": "QueryOptimizerSettings",
    "cdn": "CdnSettings",
}
HEADER = """# Configuration

Every setting comes from the environment (or a `.env` file in the working
directory); the variable is the setting's name in capitals. Defaults are for
one machine. This page is written by `revue config-docs` from the settings
classes (`make docs`); a test fails when it is out of date.
"""


def variable(name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return (alias if isinstance(alias, str) else name).upper()


def shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"{value:_}".replace("_", ",")
    if value == "" or value == {} or value == []:
        return "empty"
    return str(value)


def default_of(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return shown(info.default_factory())  # type: ignore[call-arg]
    if info.default is PydanticUndefined:
        return "required"
    return (
        f"`{shown(info.default)}`"
        if shown(info.default) not in ("unset", "empty")
        else (shown(info.default))
    )


def rows(fields: Iterable[tuple[str, FieldInfo]]) -> list[str]:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, info in fields:
        description = " ".join((info.description or "").split()).replace("|", "\\|")
        lines.append(f"| `{variable(name, info)}` | {default_of(info)} | {description} |")
    return lines


def page() -> str:
    shared = ServiceSettings.model_fields
    out = [HEADER, "## Every service", ""]
    out += rows((name, info) for name, info in shared.items() if name not in ("port",))
    for spec in SERVICES:
        module = importlib.import_module(f"{spec.module}.settings")
        settings = getattr(module, SETTINGS_CLASSES[spec.name])
        own = [
            (name, info)
            for name, info in settings.model_fields.items()
            if name not in shared or name == "port"
        ]
        out += ["", f"## {spec.name}", ""]
        out += rows(own)
    return "\n".join(out) + "\n"


def command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="revue config-docs", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    text = page()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0
