"""Worker processes with a hard deadline per call: a call that overruns is killed.

`asyncio.timeout` around a `ProcessPoolExecutor` future only stops the
caller from waiting: the worker goes on computing, and with two workers two
hostile submissions stall analysis for everyone. Here each worker runs one
call at a time over its own pipe; a call past its deadline gets its worker
SIGKILLed and replaced (in the background, so the caller hears at once), and
a caller that gives up does the same, so a worker is never busy with work
nobody waits for.

Each worker also watches the service process (a pidfd where Linux has it)
and exits when it ends, even after a SIGKILL: a worker holds its end of the
pipe, and without the watch it would never see the service go. The
forkserver and the resource tracker follow once no worker is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter

T = TypeVar("T")
POLL_INTERVAL = 1.0  # only where pidfd_open is missing
log = structlog.get_logger("revue.analysis.workers")
workers_replaced_total = Counter(
    "analysis_workers_replaced_total",
    "Analysis worker processes killed and replaced, by reason",
    ["reason"],
)


STARTUP_TIMEOUT_S = 120.0


class DeadlineExceededError(TimeoutError):
    """The call ran past its deadline; its worker was killed."""


class WorkerCrashedError(RuntimeError):
    """The worker died (or raised) before answering."""


class DeadlineWorkers:
    def __init__(
        self, processes: int, deadline: float, warm_up: Callable[[], Any] | None = None
    ) -> None:
        """`warm_up` runs once in each new worker before it takes calls (imports, caches):
        a call's deadline measures its work, never a worker's start."""
        self.size = max(1, processes)
        self.deadline = deadline
        self.warm_up = warm_up
        self._context = multiprocessing.get_context("forkserver")
        # Plain deques, not asyncio queues: the pool outlives any one event loop.
        self._idle: deque[_Worker] = deque()
        self._waiting: deque[asyncio.Future[_Worker]] = deque()
        self._all: set[_Worker] = set()
        self._spawned = False
        self._respawns: set[asyncio.Task[None]] = set()
        self._crashes = 0  # in a row: a worker that cannot even start must not spin
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any, deadline: float | None = None) -> T:
        """`fn(*args)` in a worker (`fn` importable by name), within `deadline` seconds."""
        worker = await self._take()
        try:
            await asyncio.to_thread(worker.connection.send, (fn, args))
            async with asyncio.timeout(deadline or self.deadline):
                await _readable(worker.connection)
            status, value = worker.connection.recv()
        except TimeoutError as error:
            self._replace(worker, "deadline")
            raise DeadlineExceededError(
                f"analysis ran past its {deadline or self.deadline:g} s deadline"
            ) from error
        except asyncio.CancelledError:
            self._replace(worker, "abandoned")
            raise
        except (EOFError, OSError) as error:
            self._crashes += 1
            self._replace(worker, "crashed")
            raise WorkerCrashedError(f"analysis worker died: {error!r}") from error
        self._crashes = 0
        self._give_back(worker)
        if status != "ok":
            raise WorkerCrashedError(value)
        return value

    def worker_pids(self) -> set[int]:
        return {worker.process.pid for worker in self._all if worker.process.pid is not None}

    async def start(self) -> None:
        """Start every worker now (each warmed up), rather than at the first call."""
        if not self._spawned:
            self._spawned = True
            workers = await asyncio.gather(
                *(asyncio.to_thread(self._spawn) for _ in range(self.size))
            )
            for worker in workers:
                self._give_back(worker)

    async def _take(self) -> _Worker:
        await self.start()
        if self._idle:
            return self._idle.popleft()
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())  # handed over just as we gave up
            raise

    def _give_back(self, worker: _Worker) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.get_loop().call_soon_threadsafe(_hand_over, waiter, worker, self)
                return
        self._idle.append(worker)

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, os.getpid()), name="revue-analysis-worker", daemon=True
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        if self.warm_up is not None:
            ours.send((self.warm_up, ()))
            if not ours.poll(STARTUP_TIMEOUT_S):
                worker.kill()
                raise WorkerCrashedError(f"a new worker did not start in {STARTUP_TIMEOUT_S} s")
            status, value = ours.recv()
            if status != "ok":
                worker.kill()
                raise WorkerCrashedError(f"a new worker failed to warm up: {value}")
        self._all.add(worker)
        return worker

    def _replace(self, worker: _Worker, reason: str) -> None:
        workers_replaced_total.labels(reason).inc()
        log.warning("analysis worker replaced", reason=reason, pid=worker.process.pid)
        worker.kill()
        self._all.discard(worker)
        if not self._closed:
            task = asyncio.get_running_loop().create_task(self._respawn(), name="worker-respawn")
            self._respawns.add(task)
            task.add_done_callback(self._respawns.discard)

    async def _respawn(self) -> None:
        while not self._closed:
            if self._crashes:  # crashing again and again: wait longer each time, up to 10 s
                await asyncio.sleep(min(10.0, 0.1 * 2 ** (self._crashes - 1)))
            try:
                worker = await asyncio.to_thread(self._spawn)
            except (WorkerCrashedError, EOFError, OSError) as error:
                self._crashes += 1  # a worker that cannot start: try again, later
                log.warning("analysis worker did not start", error=repr(error))
                continue
            self._give_back(worker)
            return

    def close(self) -> None:
        self._closed = True
        for task in self._respawns:
            task.cancel()
        for worker in list(self._all):
            worker.kill()
        self._all.clear()


def _hand_over(waiter: asyncio.Future[_Worker], worker: _Worker, pool: DeadlineWorkers) -> None:
    if waiter.done():  # the waiter gave up meanwhile: the next one gets it
        pool._give_back(worker)
    else:
        waiter.set_result(worker)


class _Worker:
    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.kill()
        with contextlib.suppress(OSError):
            self.connection.close()
        # Reaped by multiprocessing's own bookkeeping on the next start/join.
        threading.Thread(target=self.process.join, args=(5,), daemon=True).start()


async def _readable(connection: Connection) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    descriptor = connection.fileno()
    loop.add_reader(descriptor, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(descriptor)


def _serve(connection: Connection, service_pid: int) -> None:
    """A worker's life: answer calls one at a time until the pipe or the service closes."""
    threading.Thread(
        target=_watch, args=(service_pid,), name="exit-with-service", daemon=True
    ).start()
    while True:
        try:
            fn, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", fn(*args))
        except Exception as error:  # reported to the caller, which decides
            answer = ("error", f"{type(error).__name__}: {error}"[:2000])
        connection.send(answer)


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
