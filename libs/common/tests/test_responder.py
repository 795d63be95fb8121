"""A Responder on a real NATS server: answers, rejections, failures, limits, drain."""

import asyncio
import json

import nats
import pytest
from nats.errors import NoRespondersError
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from revue.common.bus.broker import RejectMalformed
from revue.common.bus.responder import Responder, ResponderMetrics, event_type_of
from revue.common.contracts.events import AnalysisReply, RunAnalysis
from revue.common.contracts.subjects import BusTopology
from revue.common.settings import ServiceSettings
from revue.devkit.testing.waiting import wait_until

REQUEST = RunAnalysis(code="x = 1\n", language="python")


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def nc(nats_url):
    connection = await nats.connect(nats_url)
    yield connection
    await connection.drain()


@pytest.fixture
def subject(make_settings):
    return BusTopology(make_settings(ServiceSettings).bus_namespace).subject("analysis.run")


def responder_for(handle, subject: str, registry: CollectorRegistry, concurrency: int = 8):
    metrics = ResponderMetrics(registry, RejectMalformed(registry))
    return Responder(
        subject,
        "q",
        handle,
        concurrency=concurrency,
        tracer=trace.get_tracer("test"),
        metrics=metrics,
    )


async def test_a_request_is_answered_and_a_malformed_one_rejected(nc, subject):
    registry = CollectorRegistry()

    async def run(request: RunAnalysis) -> AnalysisReply:
        return AnalysisReply(job_id=request.job_id, status="succeeded")

    responder = responder_for(run, subject, registry)
    await responder.start(nc)
    try:
        answer = await nc.request(subject, REQUEST.model_dump_json().encode(), timeout=5)
        assert AnalysisReply.model_validate_json(answer.data).job_id == REQUEST.job_id

        bad = await nc.request(subject, b'{"language": "python"}', timeout=5)
        error = json.loads(bad.data)["error"]
        assert error["code"] == "malformed_event"
        assert "code" in error["message"]
    finally:
        await responder.stop(5)
    assert sample(registry, "revue_events_rejected_total", subject=subject) == 1
    assert sample(registry, "bus_requests_total", subject=subject, outcome="answered") == 1
    assert sample(registry, "bus_requests_total", subject=subject, outcome="rejected") == 1
    assert sample(registry, "bus_request_duration_seconds_count", subject=subject) == 2


async def test_a_failing_handler_is_counted_and_the_responder_keeps_answering(nc, subject):
    registry = CollectorRegistry()
    calls = 0

    async def run(request: RunAnalysis) -> AnalysisReply:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return AnalysisReply(job_id=request.job_id, status="succeeded")

    responder = responder_for(run, subject, registry)
    await responder.start(nc)
    try:
        crashed = await nc.request(subject, REQUEST.model_dump_json().encode(), timeout=5)
        assert (
            json.loads(crashed.data)["error"]["code"] == "internal_error"
        )  # told, not left to time out
        answer = await nc.request(subject, REQUEST.model_dump_json().encode(), timeout=5)
        assert AnalysisReply.model_validate_json(answer.data).status == "succeeded"
    finally:
        await responder.stop(5)
    assert sample(registry, "bus_requests_total", subject=subject, outcome="failed") == 1


async def test_at_most_concurrency_requests_run_at_once(nc, subject):
    running, most = 0, 0
    release = asyncio.Event()

    async def run(request: RunAnalysis) -> AnalysisReply:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return AnalysisReply(job_id=request.job_id, status="succeeded")

    responder = responder_for(run, subject, CollectorRegistry(), concurrency=2)
    await responder.start(nc)
    try:
        pending = [
            asyncio.create_task(nc.request(subject, REQUEST.model_dump_json().encode(), timeout=10))
            for _ in range(5)
        ]
        await wait_until(lambda: running == 2, timeout=5)
        assert most == 2
        release.set()
        answers = await asyncio.gather(*pending)
    finally:
        await responder.stop(5)
    assert len(answers) == 5
    assert most == 2


async def test_stop_answers_what_was_taken_then_takes_nothing(nc, subject):
    started = asyncio.Event()
    release = asyncio.Event()

    async def run(request: RunAnalysis) -> AnalysisReply:
        started.set()
        await release.wait()
        return AnalysisReply(job_id=request.job_id, status="succeeded")

    responder = responder_for(run, subject, CollectorRegistry())
    await responder.start(nc)
    taken = asyncio.create_task(nc.request(subject, REQUEST.model_dump_json().encode(), timeout=10))
    await started.wait()
    stopping = asyncio.create_task(responder.stop(10))
    await wait_until(lambda: not responder.accepting, timeout=5)
    release.set()
    await stopping
    assert AnalysisReply.model_validate_json((await taken).data).status == "succeeded"
    with pytest.raises(NoRespondersError):
        await nc.request(subject, REQUEST.model_dump_json().encode(), timeout=5)


def test_the_event_type_comes_from_the_handlers_annotation():
    async def run(request: RunAnalysis) -> AnalysisReply: ...

    async def untyped(request): ...

    async def not_an_event(request: dict) -> None: ...

    assert event_type_of(run) is RunAnalysis
    with pytest.raises(TypeError):
        event_type_of(untyped)
    with pytest.raises(TypeError):
        event_type_of(not_an_event)


async def test_a_request_naming_a_system_subject_as_its_reply_is_never_answered(nc, subject):
    import uuid

    registry = CollectorRegistry()
    handled = []

    async def run(request: RunAnalysis) -> AnalysisReply:
        handled.append(request)
        return AnalysisReply(job_id=request.job_id, status="succeeded")

    trap = f"$REVUE.trap.{uuid.uuid4().hex}"  # stands for $JS.API.STREAM.DELETE.<any>
    landed = []

    async def caught(message):
        landed.append(message)

    await nc.subscribe(trap, cb=caught)
    responder = responder_for(run, subject, registry)
    await responder.start(nc)
    try:
        await nc.publish(subject, REQUEST.model_dump_json().encode(), reply=trap)
        await wait_until(
            lambda: sample(registry, "bus_requests_total", subject=subject, outcome="rejected"),
            message="the refusal counted",
        )
        # An honest request after it is answered: the responder went on.
        answer = await nc.request(subject, REQUEST.model_dump_json().encode(), timeout=5)
        assert AnalysisReply.model_validate_json(answer.data).status == "succeeded"
    finally:
        await responder.stop(5)
    assert landed == [] and len(handled) == 1


def test_a_batched_request_may_not_name_a_system_subject_as_its_reply():
    from pydantic import ValidationError

    from revue.common.contracts.events import BatchedRun

    for reply in ("$JS.API.STREAM.DELETE.ANALYSIS_JOBS", "$SYS.REQ.SERVER.PING", "a.$JS"):
        with pytest.raises(ValidationError):
            BatchedRun(request=REQUEST, reply_to=reply)
    assert BatchedRun(request=REQUEST, reply_to="_INBOX_gateway.abc.1").reply_to
