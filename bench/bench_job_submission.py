"""Jobs accepted per second into ANALYSIS_JOBS, then every result recorded once.

Submission goes through `JobSubmitter.submit_batch` (JetStream publishes with
acknowledgements, many in flight). Then a real analysis service process works
the queue, and the benchmark checks that each job has exactly one row and
one `analysis.completed` event.

    .venv/bin/python bench/bench_job_submission.py [--jobs 20000] [--batch 1000]
"""

import argparse
import asyncio
import sys
import time

import asyncpg
import nats
from infra import bench_environment

from revue.common.bus.jobs import JobSubmitter
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.events import RunAnalysis
from revue.common.contracts.subjects import BusTopology, Priority
from revue.common.db.engine import asyncpg_dsn
from revue.devkit.embedded.probes import free_port
from revue.devkit.suite import ready

PRIORITIES = list(Priority)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    async with bench_environment(migrate=("revue.analysis",)) as env:
        topology = BusTopology(env["BUS_NAMESPACE"])
        connection = await nats.connect(env["NATS_URL"], pending_size=256 * 1024 * 1024)
        js = connection.jetstream()
        await ensure_streams(js, topology)
        submitter = JobSubmitter(js, topology)
        jobs = [
            RunAnalysis(code=f"value_{i} = {i}\n", language="python", priority=PRIORITIES[i % 5])
            for i in range(args.jobs)
        ]
        started = time.perf_counter()
        accepted = 0
        for offset in range(0, len(jobs), args.batch):
            acks = await submitter.submit_batch(jobs[offset : offset + args.batch])
            accepted += sum(not ack.duplicate for ack in acks)
        submit_seconds = time.perf_counter() - started
        print(
            f"submitted {accepted} jobs in {submit_seconds:.2f} s: "
            f"{accepted / submit_seconds:,.0f} jobs/s accepted (target >= 10,000/s)"
        )

        port = free_port()
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "revue.analysis", env={**env, "ANALYSIS_PORT": str(port)}
        )
        try:
            while not await asyncio.to_thread(ready, port):  # noqa: ASYNC110 - polling a process
                await asyncio.sleep(0.1)
            database = await asyncpg.connect(asyncpg_dsn(env["DATABASE_URL"]))
            started = time.perf_counter()
            deadline = started + 600
            rows = 0
            while rows < args.jobs and time.perf_counter() < deadline:
                await asyncio.sleep(0.5)
                rows = await database.fetchval("SELECT count(*) FROM analysis_sessions")
            process_seconds = time.perf_counter() - started
            distinct = await database.fetchval(
                "SELECT count(DISTINCT job_id) FROM analysis_sessions"
            )
            await database.close()
            events = (await js.stream_info(topology.stream("ANALYSIS_EVENTS"))).state.messages
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 60)
        await connection.drain()
        rate = rows / process_seconds
        print(
            f"processed {rows} jobs in {process_seconds:.1f} s ({rate:,.0f} jobs/s, one worker"
            f" process); rows {rows}, distinct job ids {distinct}, completed events {events}"
        )
        once = rows == distinct == events == args.jobs
        print("every job's result recorded exactly once:", "yes" if once else "NO")
        if not once:
            sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
