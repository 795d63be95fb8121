"""A worker killed with SIGKILL mid-job: the job is redelivered and completes once."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from revue.common.bus.jobs import JobSubmitter
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.events import AnalysisCompleted, RunAnalysis
from revue.common.contracts.subjects import BusTopology
from revue.devkit.embedded.probes import free_port
from revue.devkit.suite import ready
from revue.devkit.testing.waiting import wait_until

from .service import migrated

SLOW_WORKER = Path(__file__).parent / "slow_worker.py"


async def start(command: list[str], env: dict[str, str], port: int):
    process = await asyncio.create_subprocess_exec(
        *command, env={**env, "ANALYSIS_PORT": str(port)}
    )
    await wait_until(lambda: asyncio.to_thread(ready, port), timeout=60, message="worker ready")
    return process


async def test_sigkilled_worker_job_is_redelivered_and_completes_once(
    service_env, database_url, nats_url, bus_namespace
):
    await migrated(database_url)
    env = {**service_env, "JOB_ACK_WAIT": "2", "LOG_LEVEL": "WARNING", "SLOW_PROVIDER_DELAY": "60"}
    topology = BusTopology(bus_namespace)
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    engine = create_async_engine(database_url)
    workers = []
    try:
        await ensure_streams(js, topology)
        doomed = await start([sys.executable, str(SLOW_WORKER)], env, free_port())
        workers.append(doomed)
        job = RunAnalysis(code="import os\n", language="python")
        await JobSubmitter(js, topology).submit(job)

        async def in_flight() -> bool:
            info = await js.consumer_info(
                topology.stream("ANALYSIS_JOBS"), "analysis-worker-normal"
            )
            return info.num_ack_pending == 1

        await wait_until(in_flight, timeout=20, message="job in flight on the doomed worker")
        os.kill(doomed.pid, signal.SIGKILL)
        assert await doomed.wait() == -signal.SIGKILL

        healthy = await start([sys.executable, "-m", "revue.analysis"], env, free_port())
        workers.append(healthy)

        async def sessions() -> int:
            async with engine.connect() as db:
                return await db.scalar(text("SELECT count(*) FROM analysis_sessions"))

        await wait_until(lambda: _is(sessions(), 1), timeout=30, message="job completed")
        events = topology.stream("ANALYSIS_EVENTS")
        await wait_until(lambda: _is(_messages(js, events), 1), timeout=10)
        completed = AnalysisCompleted.model_validate_json(
            (await js.get_last_msg(events, topology.subject("analysis.completed.job"))).data
        )
        assert completed.job_id == job.job_id
        assert completed.status == "succeeded"
        jobs = await js.consumer_info(topology.stream("ANALYSIS_JOBS"), "analysis-worker-normal")
        assert jobs.delivered.consumer_seq == 2  # delivered to the doomed worker, then again
        healthy.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(healthy.wait(), 30) == 0
        assert await sessions() == 1
        assert (await js.stream_info(events)).state.messages == 1
    finally:
        for process in workers:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await engine.dispose()
        await connection.drain()


async def _is(awaitable, expected) -> bool:
    return (await awaitable) == expected


async def _messages(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages
