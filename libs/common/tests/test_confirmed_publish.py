"""publish_confirmed against real NATS: confirmed, re-sent, deduplicated, bounded."""

import asyncio
import time

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from revue.common.bus.confirmed_publish import Outgoing, UnconfirmedPublishError, publish_confirmed
from revue.devkit.embedded.servers import EmbeddedNats


def outgoing(subject: str, count: int, prefix: str = "m") -> list[Outgoing]:
    return [
        Outgoing(subject, f"payload {n}".encode(), {"Nats-Msg-Id": f"{prefix}-{n}"})
        for n in range(count)
    ]


async def stream_for(js, namespace: str) -> tuple[str, str]:
    stream, subject = f"{namespace}_CONFIRMED", f"{namespace}.confirmed"
    await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
    return stream, subject


async def test_every_message_is_acknowledged_in_order_and_stored_once(nats_url, bus_namespace):
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        stream, subject = await stream_for(js, bus_namespace)
        acks = await publish_confirmed(js, outgoing(subject, 50), stream=stream)
        assert [ack.seq for ack in acks] == list(range(1, 51))
        assert not any(ack.duplicate for ack in acks)

        again = await publish_confirmed(js, outgoing(subject, 50), stream=stream)
        assert all(ack.duplicate for ack in again)
        assert (await js.stream_info(stream)).state.messages == 50
    finally:
        await js.delete_stream(stream)
        await connection.drain()


async def test_a_message_without_an_id_is_refused_before_anything_is_sent(nats_url):
    connection = await nats.connect(nats_url)
    try:
        with pytest.raises(ValueError, match="Nats-Msg-Id"):
            await publish_confirmed(connection.jetstream(), [Outgoing("x", b"", {})], stream="ANY")
    finally:
        await connection.drain()


async def test_a_refusal_by_the_stream_is_raised_at_once_not_retried(nats_url, bus_namespace):
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        stream, subject = await stream_for(js, bus_namespace)
        started = time.monotonic()
        with pytest.raises(APIError):  # the subject belongs to another stream than expected
            await publish_confirmed(js, outgoing(subject, 3), stream="NOT_" + stream, deadline=10)
        assert time.monotonic() - started < 5
    finally:
        await js.delete_stream(stream)
        await connection.drain()


async def test_an_answer_that_never_comes_ends_at_the_deadline(nats_url, bus_namespace):
    """A core subscriber that takes the message and never replies: nats-py alone would
    wait for ever."""
    connection = await nats.connect(nats_url)
    subject = f"{bus_namespace}.silent"
    silent = await connection.subscribe(subject)
    try:
        started = time.monotonic()
        with pytest.raises(UnconfirmedPublishError) as raised:
            await publish_confirmed(
                connection.jetstream(),
                outgoing(subject, 4),
                stream="NONE",
                ack_timeout=0.2,
                deadline=1.5,
            )
        assert raised.value.unconfirmed == 4
        assert 1.0 < time.monotonic() - started < 5
        assert silent.pending_msgs >= 8  # sent, then sent again
        assert connection.jetstream().publish_async_pending() == 0  # no future left behind
    finally:
        await connection.close()  # not drain: the silent subscription holds unread messages


async def test_messages_sent_while_the_server_restarts_are_all_stored_once(tmp_path):
    server = EmbeddedNats(tmp_path / "nats").start()
    connection = await nats.connect(server.url, reconnect_time_wait=0.2, max_reconnect_attempts=-1)
    js = connection.jetstream()
    try:
        await js.add_stream(StreamConfig(name="RESTART", subjects=["restart"]))
        first = await publish_confirmed(js, outgoing("restart", 100), stream="RESTART")
        assert len(first) == 100

        server.stop()
        restart = asyncio.create_task(asyncio.to_thread(_start_after, server, 1.0))
        during = await publish_confirmed(
            js, outgoing("restart", 100, prefix="during"), stream="RESTART", deadline=30
        )
        await restart
        assert len(during) == 100
        assert (await js.stream_info("RESTART")).state.messages == 200
    finally:
        await connection.close()
        server.stop()


def _start_after(server: EmbeddedNats, seconds: float) -> None:
    time.sleep(seconds)  # the outage itself, not a wait for a condition
    server.start()
