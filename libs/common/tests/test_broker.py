"""The broker factory's malformed-message handling, on a real NATS server."""

import json

import nats
from faststream.nats import JStream, PullSub
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import CollectorRegistry

from revue.common.bus.broker import create_broker
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.events import RunAnalysis
from revue.common.contracts.streams import ANALYSIS_JOBS
from revue.common.contracts.subjects import BusTopology
from revue.common.settings import ServiceSettings
from revue.devkit.testing.waiting import wait_until


def rejected(registry: CollectorRegistry, subject: str) -> float:
    return registry.get_sample_value("revue_events_rejected_total", {"subject": subject}) or 0.0


async def test_malformed_request_gets_a_rejection_and_the_consumer_lives_on(make_settings):
    settings = make_settings(ServiceSettings)
    registry = CollectorRegistry()
    broker = create_broker(settings, registry=registry)
    subject = BusTopology(settings.bus_namespace).subject("analysis.run")
    seen: list[RunAnalysis] = []

    @broker.subscriber(subject)
    async def handle(event: RunAnalysis) -> dict:
        seen.append(event)
        return {"ok": True}

    async with broker:
        await broker.start()
        bad = await broker.request({"language": "python"}, subject, timeout=5)
        reply = json.loads(bad.body)
        assert reply["error"]["code"] == "malformed_event"
        assert "code" in reply["error"]["message"]
        assert rejected(registry, subject) == 1

        good = await broker.request(
            RunAnalysis(code="x = 1", language="python").model_dump(mode="json"), subject, timeout=5
        )
        assert json.loads(good.body) == {"ok": True}
        assert len(seen) == 1


async def test_malformed_jetstream_message_is_terminated_not_redelivered(make_settings, nats_url):
    settings = make_settings(ServiceSettings)
    registry = CollectorRegistry()
    topology = BusTopology(settings.bus_namespace)
    broker = create_broker(settings, registry=registry)
    subject = topology.job_subject("normal")
    stream = topology.stream(ANALYSIS_JOBS.name)
    handled: list[RunAnalysis] = []

    @broker.subscriber(
        subject,
        stream=JStream(stream, declare=False),
        durable="test-worker",
        pull_sub=PullSub(batch_size=1, timeout=0.5),
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_deliver=5, ack_wait=30),
    )
    async def work(event: RunAnalysis) -> None:
        handled.append(event)

    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        await ensure_streams(js, topology)
        async with broker:
            await broker.start()
            await js.publish(subject, b'{"code": 42}')
            await js.publish(
                subject, RunAnalysis(code="y = 2", language="python").model_dump_json().encode()
            )
            await wait_until(lambda: handled and rejected(registry, subject) == 1, timeout=10)

            async def queue_drained() -> bool:
                return (await js.stream_info(stream)).state.messages == 0

            # Terminated and acked messages both leave the work queue.
            await wait_until(queue_drained, timeout=10)
            info = await js.consumer_info(stream, "test-worker")
            assert info.num_redelivered == 0
            assert info.num_ack_pending == 0
            assert len(handled) == 1
    finally:
        await connection.drain()


async def test_a_faststream_subscriber_never_replies_to_a_system_subject(make_settings, nats_url):
    import uuid

    import nats
    from prometheus_client import CollectorRegistry

    from revue.common.bus.broker import create_broker
    from revue.common.contracts.events import GetCacheStats
    from revue.common.settings import ServiceSettings
    from revue.devkit.testing.waiting import wait_until

    settings = make_settings(ServiceSettings)
    registry = CollectorRegistry()
    broker = create_broker(settings, registry=registry)
    subject = f"{settings.bus_namespace}.stats"

    @broker.subscriber(subject)
    async def stats(_: GetCacheStats) -> dict:
        return {"answered": True}

    trap = f"$REVUE.trap.{uuid.uuid4().hex}"
    landed = []
    listener = await nats.connect(nats_url)

    async def caught(message):
        landed.append(message)

    await listener.subscribe(trap, cb=caught)
    async with broker:
        await broker.start()
        await broker.connection.flush()  # the server has the subscription from here on
        # An honest request first: once it is answered, the subscription is routed to.
        first = await listener.request(subject, b"{}", timeout=5)
        assert b"answered" in first.data
        await listener.publish(subject, b"{}", reply=trap)
        await wait_until(
            lambda: registry.get_sample_value("revue_events_rejected_total", {"subject": subject}),
            message="the refusal counted",
        )
        honest = await listener.request(subject, b"{}", timeout=5)
        assert b"answered" in honest.data
    await listener.drain()
    assert landed == []
