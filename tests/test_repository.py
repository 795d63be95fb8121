"""Repository hygiene: pinned, host-free dependencies and the README's commands."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What a recorded download address looks like in lock and config files,
# without naming any registry's host.
ADDRESS = re.compile(
    r"""source\s*=\s*\{\s*registry\s*=\s*"http"""
    r"""|"resolved"\s*:\s*"http"""
    r"""|^\s*--(extra-)?index-url\b"""
    r"""|^\s*--find-links\b"""
    r"""|https?://\S+\.(whl|tar\.gz|tgz|zip)\b"""
    r"""|https?://\S+/simple/?\b""",
    re.MULTILINE,
)


def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_records_a_download_address():
    offenders = []
    for path in tracked_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        if path.name == "test_repository.py":
            continue
        if ADDRESS.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_address_pattern_catches_what_it_must():
    # Built from parts, so that this file itself holds no such line.
    assert ADDRESS.search("source = { registry = " + '"https://example.invalid/simple" }')
    assert ADDRESS.search("--index-url https://example.invalid/simple")
    assert ADDRESS.search("x @ https://example.invalid/a/b/pkg-1.0-py3-none-any.whl#sha256=00")
    assert not ADDRESS.search("see http://127.0.0.1:8000/docs")


def test_uv_lock_is_ignored_and_requirements_lock_is_pinned_with_hashes():
    assert "uv.lock" in (ROOT / ".gitignore").read_text().split()
    names = {p.relative_to(ROOT).as_posix() for p in tracked_files()}
    assert "uv.lock" not in names
    assert "requirements.lock" in names
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s;]+)", lock, re.MULTILINE)
    assert len(pins) > 50
    assert lock.count("--hash=sha256:") >= len(pins)
    for member in ("libs/common", "services/gateway", "services/cdn"):
        assert f"-e ./{member}" in lock


def test_ci_runs_exactly_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.startswith("make ")]
    assert commands == ["make install", "make test"]
    readme = (ROOT / "README.md").read_text()
    assert "make install && make run" in readme
    assert "make test" in readme
