"""The asynchronous path over real JetStream and PostgreSQL."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from revue.analysis.settings import AnalysisSettings
from revue.common.bus.jobs import JobSubmitter
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.events import AnalysisDeadLettered, RunAnalysis
from revue.common.contracts.subjects import BusTopology, Priority
from revue.devkit.testing.waiting import wait_until

from .providers import FaultInjectingProvider
from .service import migrated, nats_client, running_service


class RecordingProvider(FaultInjectingProvider):
    """Also remembers the order in which code reached the analyzer."""

    def __init__(self, inner, **options):
        super().__init__(inner, **options)
        self.seen: list[str] = []

    async def analyze_batch(self, items):
        self.seen.extend(item.code for item in items)
        return await super().analyze_batch(items)


@pytest.fixture
async def settings(make_settings, database_url):
    return make_settings(
        AnalysisSettings,
        await migrated(database_url),
        job_nak_delay=0.05,
        job_nak_max_delay=0.2,
        retry_max_attempts=1,
    )


async def count(database_url: str, sql: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(text(sql))
    finally:
        await engine.dispose()


async def stream_messages(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def test_a_batch_of_jobs_across_priorities_completes_exactly_once_each(
    settings, builtin_provider, nats_url, database_url
):
    topology = BusTopology(settings.bus_namespace)
    priorities = list(Priority)
    jobs = [
        RunAnalysis(code=f"x = {i}\n", language="python", priority=priorities[i % 5])
        for i in range(50)
    ]
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)) as app,
        nats_client(nats_url) as nc,
    ):
        js = nc.jetstream()
        submitted = await JobSubmitter(js, topology).submit_batch(jobs)
        assert len({s.sequence for s in submitted}) == 50
        await wait_until(
            lambda: _equals(count(database_url, "SELECT count(*) FROM analysis_sessions"), 50),
            timeout=30,
            message="50 sessions",
        )
        events = topology.stream("ANALYSIS_EVENTS")
        await wait_until(lambda: _equals(stream_messages(js, events), 50), timeout=10)
        stats = await app.state.service.job_worker.queue_stats()
    assert stats["completed"] == 50
    assert stats["submitted"] == 50
    assert stats["queue"] == {"pending": 0, "running": 0}
    assert stats["success_rate"] == 1.0


async def _equals(awaitable, expected) -> bool:
    return (await awaitable) == expected


async def test_the_same_idempotency_key_makes_one_job(
    settings, builtin_provider, nats_url, database_url
):
    topology = BusTopology(settings.bus_namespace)
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        submitter = JobSubmitter(nc.jetstream(), topology)
        first = await submitter.submit(RunAnalysis(code="a = 1\n", language="python"), "key-42")
        again = await submitter.submit(RunAnalysis(code="a = 1\n", language="python"), "key-42")
        assert again.duplicate
        assert not first.duplicate
        assert again.sequence == first.sequence
        await wait_until(
            lambda: _equals(count(database_url, "SELECT count(*) FROM analysis_sessions"), 1),
            timeout=20,
        )
    assert await count(database_url, "SELECT count(*) FROM analysis_sessions") == 1


async def test_repeated_failures_end_in_a_dead_letter_with_the_reason(
    make_settings, database_url, builtin_provider, nats_url
):
    settings = make_settings(
        AnalysisSettings,
        await migrated(database_url),
        job_max_deliver=3,
        job_nak_delay=0.05,
        job_nak_max_delay=0.1,
        retry_max_attempts=1,
        breaker_failure_threshold=100,
    )
    provider = FaultInjectingProvider(builtin_provider)
    provider.always_fail = True
    topology = BusTopology(settings.bus_namespace)
    job = RunAnalysis(code="b = 2\n", language="python")
    async with running_service(settings, provider), nats_client(nats_url) as nc:
        js = nc.jetstream()
        await JobSubmitter(js, topology).submit(job)
        dead_stream = topology.stream("ANALYSIS_DEAD")
        await wait_until(lambda: _equals(stream_messages(js, dead_stream), 1), timeout=20)
        dead = AnalysisDeadLettered.model_validate_json(
            (await js.get_last_msg(dead_stream, topology.subject("analysis.dead"))).data
        )
    assert dead.job_id == job.job_id
    assert dead.deliveries == 3
    assert "injected provider outage" in dead.reason
    assert provider.calls == 3
    assert (
        await count(database_url, "SELECT count(*) FROM analysis_sessions WHERE status = 'failed'")
        == 1
    )


async def test_a_malformed_job_is_dead_lettered_without_retries(
    settings, builtin_provider, nats_url
):
    topology = BusTopology(settings.bus_namespace)
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        js = nc.jetstream()
        await js.publish(topology.job_subject("normal"), b'{"language": "python"}')
        dead_stream = topology.stream("ANALYSIS_DEAD")
        await wait_until(lambda: _equals(stream_messages(js, dead_stream), 1), timeout=10)
        dead = AnalysisDeadLettered.model_validate_json(
            (await js.get_last_msg(dead_stream, topology.subject("analysis.dead"))).data
        )
    assert dead.reason.startswith("malformed job")
    assert dead.deliveries == 1


async def test_critical_jobs_overtake_a_backlog_of_low_priority_work(
    make_settings, database_url, builtin_provider, nats_url
):
    settings = make_settings(AnalysisSettings, await migrated(database_url), job_concurrency=1)
    topology = BusTopology(settings.bus_namespace)
    provider = RecordingProvider(builtin_provider)
    backlog = [
        RunAnalysis(code=f"low = {i}\n", language="python", priority=Priority.LOW)
        for i in range(20)
    ]
    urgent = RunAnalysis(code="urgent = 1\n", language="python", priority=Priority.CRITICAL)
    async with nats_client(nats_url) as nc:
        js = nc.jetstream()
        await ensure_streams(js, topology)
        submitter = JobSubmitter(js, topology)
        await submitter.submit_batch(backlog)
        await submitter.submit(urgent)
        async with running_service(settings, provider):
            await wait_until(lambda: len(provider.seen) == 21, timeout=30)
    # One low job may already be on its way when the critical one is fetched.
    assert provider.seen.index(urgent.code) <= 1
