"""`batch` priority jobs through the Batch API, on real JetStream and PostgreSQL.

The provider's side is the hosted-model simulator (a STAND-IN: the Batch API, its
failures and its absence are what it shows); jobs are submitted and recorded for real.
"""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from revue.analysis.settings import AnalysisSettings
from revue.common.bus.jobs import JobSubmitter
from revue.common.contracts.events import RunAnalysis
from revue.common.contracts.subjects import BusTopology, Priority
from revue.devkit.standins.hosted_model import HostedModelSimulator
from revue.devkit.testing.waiting import wait_until

from .service import migrated, nats_client, running_service

JOBS = 6


@pytest.fixture
def simulator():
    with HostedModelSimulator() as running:
        yield running


@pytest.fixture
async def settings(make_settings, database_url, simulator):
    return make_settings(
        AnalysisSettings,
        await migrated(database_url),
        provider="openai",
        openai_base_url=simulator.base_url,
        openai_model="gpt-4o-mini",
        llm_batch_api=True,
        llm_batch_max_jobs=JOBS,
        llm_batch_max_age_s=0.5,
        llm_batch_poll_s=0.1,
        llm_prices={"gpt-4o-mini": {"input": 0.15, "output": 0.6}},
        job_nak_delay=0.05,
        job_nak_max_delay=0.2,
    )


async def sessions(database_url: str) -> list:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = "SELECT status, findings_count, provider_calls, cost_usd FROM analysis_sessions"
            return (await connection.execute(text(query))).all()
    finally:
        await engine.dispose()


async def run_batch_jobs(settings, database_url, nats_url, priority=Priority.BATCH) -> list:
    jobs = [
        RunAnalysis(code=f"value_{i} = eval(data_{i})\n", language="python", priority=priority)
        for i in range(JOBS)
    ]
    async with running_service(settings, None) as app, nats_client(nats_url) as nc:
        await JobSubmitter(nc.jetstream(), BusTopology(settings.bus_namespace)).submit_batch(jobs)

        async def all_recorded() -> bool:
            return len(await sessions(database_url)) == JOBS

        await wait_until(all_recorded, timeout=30, message="every job recorded")
        worker = app.state.service.job_worker
        await wait_until(lambda: worker.stats.completed == JOBS, timeout=10, message="all acked")
    return await sessions(database_url)


def chat_calls(simulator) -> int:
    """Chat completions sent directly (Batch API lines are not requests to the endpoint)."""
    return len(simulator.script.requests)


async def test_batch_jobs_go_as_one_batch_and_are_recorded_and_acked(
    settings, simulator, database_url, nats_url
):
    rows = await run_batch_jobs(settings, database_url, nats_url)
    assert all(status == "succeeded" and findings == 1 for status, findings, _, _ in rows)
    assert chat_calls(simulator) == 0  # every job answered by the batch
    assert len(simulator.script.usages) == JOBS  # the batch's lines, one per job
    assert all(calls == 1 and cost > 0 for _, _, calls, cost in rows)


@pytest.mark.parametrize("outcome", ["failed", "expired"])
async def test_a_batch_that_fails_or_expires_sends_its_jobs_to_normal_calls(
    settings, simulator, database_url, nats_url, outcome
):
    simulator.script.batch_outcome = outcome
    rows = await run_batch_jobs(settings, database_url, nats_url)
    assert all(status == "succeeded" for status, *_ in rows)
    assert chat_calls(simulator) >= 1  # answered by normal (packed) calls


async def test_an_endpoint_without_the_batch_api_means_normal_calls(
    settings, simulator, database_url, nats_url
):
    simulator.script.batches_supported = False
    rows = await run_batch_jobs(settings, database_url, nats_url)
    assert all(status == "succeeded" for status, *_ in rows)
    assert chat_calls(simulator) >= 1


async def test_other_priorities_never_wait_for_a_batch(settings, simulator, database_url, nats_url):
    rows = await run_batch_jobs(settings, database_url, nats_url, priority=Priority.HIGH)
    assert all(status == "succeeded" for status, *_ in rows)
    assert chat_calls(simulator) >= 1  # normal calls: none waited for a batch
