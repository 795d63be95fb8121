"""Peer tools a benchmark measures against, installed for its run only (never Revue's deps)."""

import os
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
