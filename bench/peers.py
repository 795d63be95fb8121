"""Peer tools a benchmark measures against, installed for its run only (never Revue's deps)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path


def install_peer(requirement: str, into: Path) -> dict[str, str]:
    """`requirement` installed into `into`; the environment that imports it from there."""
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "--python", sys.executable, "--target", str(into),
         requirement],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return {**os.environ, "PYTHONPATH": str(into)}


def servestatic_tree(source: Path, work: Path) -> tuple[Path, dict[str, str]]:
    """A copy of `source` precompressed by ServeStatic's own tool, and the environment
    that runs ServeStatic (installed into `work` for this run)."""
    env = install_peer("servestatic", work / "peers")
    served = work / "servestatic"
    shutil.copytree(source, served)
    subprocess.run(
        [sys.executable, "-m", "servestatic.compress", str(served)],
        check=True,
        capture_output=True,
        env=env,
    )
    return served, env
