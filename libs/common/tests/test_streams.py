import nats
from nats.js.api import RetentionPolicy

from revue.common.bus.streams import ensure_streams
from revue.common.contracts.streams import ALL_STREAMS
from revue.common.contracts.subjects import BusTopology, Priority


async def test_streams_are_created_once_and_idempotently(nats_url, bus_namespace):
    topology = BusTopology(bus_namespace)
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        first = await ensure_streams(js, topology)
        second = await ensure_streams(js, topology)
        assert first == second == [topology.stream(s.name) for s in ALL_STREAMS]
        jobs = await js.stream_info(topology.stream("ANALYSIS_JOBS"))
        assert jobs.config.retention == RetentionPolicy.WORK_QUEUE
        assert jobs.config.subjects == [f"{bus_namespace}.analysis.jobs.*"]
    finally:
        await connection.drain()


async def test_the_same_message_id_is_stored_once(nats_url, bus_namespace):
    topology = BusTopology(bus_namespace)
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        await ensure_streams(js, topology)
        subject = topology.job_subject(Priority.HIGH)
        first = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "key-1"})
        again = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "key-1"})
        other = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "key-2"})
        assert again.duplicate
        assert not first.duplicate
        assert not other.duplicate
        info = await js.stream_info(topology.stream("ANALYSIS_JOBS"))
        assert info.state.messages == 2
    finally:
        await connection.drain()
