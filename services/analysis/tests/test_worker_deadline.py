"""A hard deadline per call in the builtin analyzer's workers.

A pathological item is killed with its worker at the deadline, its
batch-mates are answered right after, the item fails alone with
`analysis_timeout`, and a fresh worker takes the killed one's place.
"""

import sys
import time
from pathlib import Path

import psutil
import pytest

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.common.contracts.errors import AnalysisTimeoutError
from revue.common.contracts.events import AnalysisResult
from revue.devkit.testing.waiting import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_checks import MARKER, check_many_spinning_on_marker

DEADLINE = 1.5


@pytest.fixture
async def provider():
    provider = BuiltinProvider(
        processes=2, deadline=DEADLINE, static_checks=check_many_spinning_on_marker
    )
    await provider.start()  # as the service does: the workers up and warm first
    yield provider
    await provider.aclose()


async def test_a_pathological_item_fails_alone_and_its_batch_mates_are_answered(provider):
    await provider.analyze_batch([AnalysisInput("x = 1\n", "python")])  # workers up
    before = provider.workers.worker_pids()
    items = [
        AnalysisInput("eval(input())\n", "python"),
        AnalysisInput(f"{MARKER}\nx = 1\n", "javascript"),
        AnalysisInput("document.write(x)\n", "javascript"),
    ]
    started = time.monotonic()
    results = await provider.analyze_batch(items)
    elapsed = time.monotonic() - started

    assert isinstance(results[1], AnalysisTimeoutError)
    assert results[1].code == "analysis_timeout"
    assert isinstance(results[0], AnalysisResult) and isinstance(results[2], AnalysisResult)
    assert "S307" in {finding.rule_id for finding in results[0].findings}
    assert "DNG012" in {finding.rule_id for finding in results[2].findings}
    # The batch's deadline, then the item alone for one more: never stuck.
    assert elapsed < 3 * DEADLINE + 2
    killed = before - provider.workers.worker_pids()
    assert killed, "the worker that ran past its deadline was not replaced"

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    # SIGKILL is delivered at once, but the process may take a moment to be reaped.
    await wait_until(lambda: all(gone(pid) for pid in killed), message="killed worker gone")
    await wait_until(lambda: len(provider.workers.worker_pids()) == 2, message="pool refilled")


async def test_other_requests_are_served_while_a_worker_is_stuck(provider):
    import asyncio

    stuck = asyncio.ensure_future(provider.analyze_batch([AnalysisInput(MARKER, "c")]))
    started = time.monotonic()
    [result] = await provider.analyze_batch([AnalysisInput("gets(buffer);\n", "c")])
    assert time.monotonic() - started < DEADLINE
    assert "DNG011" in {finding.rule_id for finding in result.findings}
    [timed_out] = await stuck
    assert isinstance(timed_out, AnalysisTimeoutError)
