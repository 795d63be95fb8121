"""Python findings from ruff: one process per batch, one file per input."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import structlog
from pydantic import TypeAdapter
from ruff.__main__ import find_ruff_bin

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin.check_facts import facts_for
from revue.common.contracts.errors import RetryableProviderError
from revue.common.contracts.events import Finding
from revue.common.contracts.languages import RULE_GROUPS

log = structlog.get_logger("revue.analysis.ruff")
# ruff's import checks (bandit's B401-B415) are still preview rules: named one by one,
# with explicit-preview-rules, so no other preview rule comes with them.
PREVIEW_SECURITY = tuple(
    f"S{n}" for n in (401, 402, 403, 404, 405, 406, 407, 408, 409, 411, 412, 413, 415)
)
RUFF_RULES: dict[str, tuple[str, ...]] = {
    "security": ("S", *PREVIEW_SECURITY),
    "quality": ("E4", "E7", "E9", "F", "B", "SIM", "PIE", "PLE"),
    "complexity": ("C901",),
}
MAX_COMPLEXITY = 10
# Memory-backed when the machine has it: these files live for milliseconds.
# (TemporaryDirectory makes a private 0700 folder there, so S108's worry does not apply.)
SHM = "/dev/shm"  # noqa: S108
SCRATCH = SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None
FOLDER_PREFIX = "revue-ruff-"
WAITING_THREADS = 32  # far above the batches that run at once (BATCH_MAX_CONCURRENT per lane)
HIGH = ("S1", "S3", "S5", "S6", "F82", "PLE")  # S10x/S105-107, pickle/eval, TLS, shell, SQL


def severity(code: str) -> str:
    if code == "invalid-syntax":
        return "high"
    if code == "S101":
        return "low"
    if code.startswith(HIGH):
        return "high"
    if code.startswith(("S", "B", "C901", "F")) and code not in ("F401", "F841", "F541"):
        return "medium"
    return "low"


@functools.cache  # asked once per item of every batch, of a handful of distinct values
def selected_prefixes(rules: tuple[str, ...]) -> tuple[str, ...]:
    groups = rules or RULE_GROUPS
    return tuple(prefix for group in groups for prefix in RUFF_RULES.get(group, ()))


def as_finding_fields(record: dict[str, Any]) -> dict[str, Any]:
    """One record of ruff's JSON as a `Finding`'s fields (validated in bulk by the caller)."""
    code = record.get("code") or "invalid-syntax"
    message = record["message"]
    if code == "invalid-syntax":
        message = f"cannot parse: {message}"
    fix = record.get("fix") or {}
    facts = facts_for(code)
    return {
        "rule_id": code,
        "severity": facts.severity if facts else severity(code),
        "line": record["location"]["row"],
        "column": record["location"]["column"],
        "message": message[:2000],
        "fix_hint": fix.get("message") or None,
        # bandit's for its checks; the linter's other rules are exact, not heuristics
        "confidence": facts.confidence if facts else "high",
        "cwe": facts.cwe if facts else None,
    }


# One validation call for a batch's findings: a third of the time of one model at a time.
_FINDINGS = TypeAdapter(list[Finding])


def _write_files(folder: str, sources: list[str]) -> None:
    # Plain os calls: a third of pathlib's time per file. A lone surrogate (valid JSON,
    # not UTF-8) becomes "?", so ruff still reads the file, its lines unmoved.
    for index, source in enumerate(sources):
        data = memoryview(source.encode("utf-8", errors="replace"))
        fd = os.open(f"{folder}/{index}.py", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)


# A batch's folder lives for milliseconds; one this old was left by a process killed
# mid-batch (its cleanup never ran) and would stay in memory until the machine restarts.
STALE_AFTER_S = 3_600


def remove_stale_folders(scratch: str | None = SCRATCH, older_than: float = STALE_AFTER_S) -> int:
    """Remove what killed processes left in the scratch folder; how many were removed."""
    root = scratch or tempfile.gettempdir()
    cutoff = time.time() - older_than
    removed = 0
    for entry in os.scandir(root):
        with contextlib.suppress(OSError):  # another process may be removing it too
            if entry.name.startswith(FOLDER_PREFIX) and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry.path)
                removed += 1
    return removed


class RuffChecker:
    def __init__(self, timeout: float = 60.0) -> None:
        self.binary = find_ruff_bin()
        self.timeout = timeout
        remove_stale_folders()
        completed = subprocess.run(  # noqa: S603 - ruff's own binary, at start-up only
            [self.binary, "--version"], capture_output=True, text=True, check=True
        )
        self.version = completed.stdout.split()[-1]
        # Threads that only wait for ruff: their own pool, so that concurrent batches
        # never hold the event loop's default executor, which writes the files.
        self._waiters = ThreadPoolExecutor(WAITING_THREADS, thread_name_prefix="ruff-wait")

    def close(self) -> None:
        self._waiters.shutdown(wait=False, cancel_futures=True)

    async def check(self, items: Sequence[AnalysisInput]) -> list[list[Finding]]:
        if not items:
            return []
        wanted = [selected_prefixes(tuple(item.rules)) for item in items]
        union = sorted({prefix for prefixes in wanted for prefix in prefixes})
        if not union:
            return [[] for _ in items]
        with tempfile.TemporaryDirectory(prefix=FOLDER_PREFIX, dir=SCRATCH) as folder:
            await asyncio.to_thread(_write_files, folder, [item.code for item in items])
            records = await self._run(folder, union)
        owners, fields = [], []
        for record in records:
            index = int(record["filename"].rpartition("/")[2].removesuffix(".py"))
            code = record.get("code") or "invalid-syntax"
            if code == "invalid-syntax" or code.startswith(wanted[index]):
                owners.append(index)
                fields.append(as_finding_fields(record))
        found: list[list[Finding]] = [[] for _ in items]
        for index, finding in zip(owners, _FINDINGS.validate_python(fields), strict=True):
            found[index].append(finding)
        return found

    async def _run(self, folder: str, select: list[str]) -> list[dict[str, Any]]:
        # A plain Popen waited on in a thread: asyncio's subprocess transports cost the
        # event loop more CPU than ruff's output is worth reading in chunks. (The fork
        # blocks the loop no longer than asyncio's own, which is a Popen too.)
        process = subprocess.Popen(  # noqa: S603, ASYNC220 - ruff's binary, our arguments
            [
                self.binary,
                "check",
                "--isolated",
                "--no-cache",
                "--exit-zero",
                "--preview",
                "--config",
                "lint.explicit-preview-rules = true",
                "--output-format",
                "json",
                "--select",
                ",".join(select),
                "--config",
                f"lint.mccabe.max-complexity = {MAX_COMPLEXITY}",
                folder,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        waiting = asyncio.get_running_loop().run_in_executor(
            self._waiters, functools.partial(process.communicate, timeout=self.timeout)
        )
        try:
            # Shielded: the thread cannot be cancelled, and must not be read twice.
            stdout, stderr = await asyncio.shield(waiting)
        except subprocess.TimeoutExpired as error:
            process.kill()
            await asyncio.get_running_loop().run_in_executor(self._waiters, process.communicate)
            raise TimeoutError(f"ruff ran past {self.timeout:g} s") from error
        except asyncio.CancelledError:  # the caller gave up: ruff goes too
            process.kill()  # its thread then reads the pipes' ends and reaps it
            waiting.add_done_callback(_nobody_waits)
            raise
        if process.returncode != 0:
            log.error(
                "ruff failed",
                returncode=process.returncode,
                stderr=stderr[:2000].decode(errors="replace"),
            )
            raise RetryableProviderError(f"the analyzer failed (ruff exited {process.returncode})")
        return orjson.loads(stdout)


def _nobody_waits(future: asyncio.Future[Any]) -> None:
    """What a thread whose caller gave up ends with is read, so asyncio does not log it."""
    if not future.cancelled():
        future.exception()
