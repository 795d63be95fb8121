"""The builtin provider's worker processes leave with the service, even after SIGKILL."""

import os
import signal
import subprocess
import sys

import psutil

from revue.devkit.testing.waiting import wait_until_sync

SERVICE = """
import asyncio

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin import BuiltinProvider

async def main() -> None:
    provider = BuiltinProvider(processes=2)
    await provider.analyze_batch([AnalysisInput("x = eval(input())\\n", "python")] * 4)
    print("analysed", flush=True)
    await asyncio.sleep(120)

if __name__ == "__main__":
    asyncio.run(main())
"""


def session_members(session: int) -> list[psutil.Process]:
    """Live processes of the session the service leads (zombies have already exited)."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if (
                process.pid != session
                and os.getsid(process.pid) == session
                and process.info["status"] != psutil.STATUS_ZOMBIE
            ):
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def test_pool_workers_forkserver_and_tracker_exit_when_the_service_is_sigkilled(tmp_path):
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    service = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert service.stdout is not None
        assert service.stdout.readline().strip() == "analysed"
        helpers = session_members(service.pid)
        names = " ".join(" ".join(p.cmdline()) for p in helpers)
        assert "forkserver" in names  # the pool really runs in other processes
        assert len(helpers) >= 3  # forkserver, resource tracker, at least one worker

        service.send_signal(signal.SIGKILL)
        service.wait(timeout=10)
        wait_until_sync(
            lambda: not session_members(service.pid),
            timeout=15,
            message="every helper process of the killed service gone",
        )
    finally:
        if service.poll() is None:
            service.kill()
        for leftover in session_members(service.pid):
            leftover.kill()
