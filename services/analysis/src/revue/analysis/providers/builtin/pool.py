"""A process pool whose workers leave when the service process is gone.

A `ProcessPoolExecutor` worker holds both ends of its call queue's pipe, so
it never sees end-of-file when the service dies without shutting the pool
down (SIGKILL, OOM killer); and each worker holds the forkserver's "alive"
pipe, so the forkserver stays too, and with it the resource tracker. Three
processes per dead service would pile up under a supervisor that restarts
it. Each worker here watches the service process (a pidfd: no polling where
Linux has it) and exits when it ends; the forkserver and the tracker follow
on their own once no worker is left.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import ProcessPoolExecutor

POLL_INTERVAL = 1.0  # only where pidfd_open is missing


def service_process_pool(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=max(1, processes),
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_exit_with,
        initargs=(os.getpid(),),
    )


def _exit_with(service_pid: int) -> None:
    """Worker initializer: start the watch in a daemon thread, then serve."""
    threading.Thread(
        target=_watch, args=(service_pid,), name="exit-with-service", daemon=True
    ).start()


def _watch(service_pid: int) -> None:
    try:
        pidfd = os.pidfd_open(service_pid)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd here: poll instead
        while _alive(service_pid):
            time.sleep(POLL_INTERVAL)
    else:
        select.select([pidfd], [], [])  # readable once the process has ended
    # _exit: no clean-up to run in a worker whose every caller is gone.
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError would still mean it exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
