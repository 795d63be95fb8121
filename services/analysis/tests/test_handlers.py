"""The synchronous path over real NATS: analysis.run request/reply, events, storage."""

import json
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.events import (
    AnalysisBatchAnswered,
    AnalysisCompleted,
    AnalysisReply,
    BatchedRun,
    RunAnalysis,
    RunAnalysisBatch,
)
from revue.common.contracts.subjects import BusTopology
from revue.devkit.testing.waiting import wait_until

from .providers import FaultInjectingProvider
from .service import migrated, nats_client, running_service

CODE = "import os\n\ndef f(x):\n    return eval(x)\n"


@pytest.fixture
async def settings(make_settings, database_url):
    return make_settings(
        AnalysisSettings, await migrated(database_url), jobs_enabled=False, retry_max_attempts=1
    )


async def session_row(database_url: str, job_id: UUID):
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            row = await connection.execute(
                text("SELECT status, findings_count FROM analysis_sessions WHERE job_id = :id"),
                {"id": job_id},
            )
            return row.first()
    finally:
        await engine.dispose()


async def test_a_request_gets_findings_and_the_outcome_is_recorded_and_announced(
    settings, builtin_provider, nats_url, database_url
):
    topology = BusTopology(settings.bus_namespace)
    request = RunAnalysis(code=CODE, language="python")
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        reply = await nc.request(
            topology.subject("analysis.run"), request.model_dump_json().encode(), timeout=10
        )
        answer = json.loads(reply.data)
        assert answer["status"] == "succeeded"
        assert answer["job_id"] == str(request.job_id)
        assert {f["rule_id"] for f in answer["result"]["findings"]} >= {"F401", "S307"}

        row = await wait_until(lambda: session_row(database_url, request.job_id), timeout=10)
        assert row.status == "succeeded"
        assert row.findings_count == len(answer["result"]["findings"])
        last = await nc.jetstream().get_last_msg(
            topology.stream("ANALYSIS_EVENTS"), topology.subject("analysis.completed.sync")
        )
        completed = AnalysisCompleted.model_validate_json(last.data)
        assert completed.job_id == request.job_id
        assert completed.status == "succeeded"


async def test_a_provider_outage_is_answered_as_a_retryable_failure(
    settings, builtin_provider, nats_url
):
    provider = FaultInjectingProvider(builtin_provider)
    provider.always_fail = True
    topology = BusTopology(settings.bus_namespace)
    async with running_service(settings, provider), nats_client(nats_url) as nc:
        reply = await nc.request(
            topology.subject("analysis.run"),
            RunAnalysis(code=CODE, language="python").model_dump_json().encode(),
            timeout=10,
        )
    answer = json.loads(reply.data)
    assert answer["status"] == "failed"
    assert answer["error"]["retryable"] is True


async def test_a_malformed_request_is_rejected_and_the_service_keeps_serving(
    settings, builtin_provider, nats_url
):
    topology = BusTopology(settings.bus_namespace)
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        bad = await nc.request(topology.subject("analysis.run"), b'{"code": 1}', timeout=10)
        assert json.loads(bad.data)["error"]["code"] == "malformed_event"
        good = await nc.request(
            topology.subject("analysis.run"),
            RunAnalysis(code="x = 1\n", language="python").model_dump_json().encode(),
            timeout=10,
        )
        assert json.loads(good.data)["status"] == "succeeded"


async def test_stats_report_batching_coalescing_and_breaker(settings, builtin_provider, nats_url):
    topology = BusTopology(settings.bus_namespace)
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        await nc.request(
            topology.subject("analysis.run"),
            RunAnalysis(code=CODE, language="python").model_dump_json().encode(),
            timeout=10,
        )
        stats = json.loads((await nc.request(topology.subject("analysis.stats"), b"{}")).data)
    assert stats["batching"]["ai_analysis"]["total_requests"] == 1
    assert stats["breaker"]["state"] == "closed"
    assert stats["queue"] is None  # jobs disabled in this test


async def test_a_batch_is_answered_request_by_request_then_as_a_whole(
    settings, builtin_provider, nats_url, database_url
):
    topology = BusTopology(settings.bus_namespace)
    requests = [
        RunAnalysis(code=CODE, language="python"),
        RunAnalysis(code="x = 1\n", language="python"),
        RunAnalysis(code="def f(:\n", language="python"),  # a parse finding, not a failure
    ]
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        inbox = nc.new_inbox()
        arrived: list = []

        async def collect(message) -> None:
            arrived.append(message)

        subscription = await nc.subscribe(f"{inbox}.*", cb=collect)
        batch = RunAnalysisBatch(
            runs=[
                BatchedRun(request=request, reply_to=f"{inbox}.{i}")
                for i, request in enumerate(requests)
            ]
        )
        await nc.publish(
            topology.subject("analysis.run.batch"),
            batch.model_dump_json().encode(),
            reply=f"{inbox}.batch",
        )
        await wait_until(lambda: len(arrived) == 4, timeout=15)
        await subscription.unsubscribe()
        by_subject = {m.subject.rpartition(".")[2]: m for m in arrived}
        # The message's own reply comes last, once every request is answered.
        assert arrived[-1].subject == f"{inbox}.batch"
        assert AnalysisBatchAnswered.model_validate_json(by_subject["batch"].data).answered == 3
        replies = [AnalysisReply.model_validate_json(by_subject[str(i)].data) for i in range(3)]
        assert [r.job_id for r in replies] == [r.job_id for r in requests]
        assert all(r.status == "succeeded" for r in replies)
        rules = [{f.rule_id for f in r.result.findings} for r in replies]
        assert {"F401", "S307"} <= rules[0]
        assert rules[1] == set()
        assert rules[2]  # the parse error is reported as a finding
        for request in requests:
            row = await wait_until(
                lambda r=request: session_row(database_url, r.job_id), timeout=10
            )
            assert row.status == "succeeded"


async def test_a_batch_with_a_bad_reply_subject_is_refused_whole(
    settings, builtin_provider, nats_url
):
    topology = BusTopology(settings.bus_namespace)
    async with (
        running_service(settings, FaultInjectingProvider(builtin_provider)),
        nats_client(nats_url) as nc,
    ):
        request = RunAnalysis(code="x = 1\n", language="python").model_dump(mode="json")
        bad = {"runs": [{"request": request, "reply_to": "everyone.>"}]}
        answer = await nc.request(
            topology.subject("analysis.run.batch"), json.dumps(bad).encode(), timeout=10
        )
        assert json.loads(answer.data)["error"]["code"] == "malformed_event"
        empty = await nc.request(
            topology.subject("analysis.run.batch"), b'{"runs": []}', timeout=10
        )
        assert json.loads(empty.data)["error"]["code"] == "malformed_event"
