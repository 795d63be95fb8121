"""Each service's NATS user may use only its own subjects, on a real nats-server.

The server runs with the authorization `bus_permissions` renders (what
`revue run` starts and compose mounts); clients connect as the services do.
"""

import asyncio
import secrets
import uuid

import nats
import pytest

from revue.common.bus.permissions import USERS, inbox_prefix, nats_config
from revue.common.contracts.subjects import BusTopology
from revue.common.settings import ServiceSettings
from revue.devkit.embedded import EmbeddedNats
from revue.devkit.testing.waiting import wait_until

NAMESPACE = "perm"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    passwords = {user: secrets.token_urlsafe(24) for user in USERS}
    config = nats_config(BusTopology(NAMESPACE), passwords)
    with EmbeddedNats(tmp_path_factory.mktemp("nats"), authorization=config) as server:
        yield server, passwords


class Client:
    """A connection as one user, with the server's refusals collected."""

    def __init__(self, connection, refusals):
        self.connection, self.refusals = connection, refusals

    async def refused(self, words: str) -> None:
        await wait_until(
            lambda: any(words in refusal for refusal in self.refusals),
            timeout=5,
            message=f"a permissions violation for {words}",
        )


async def connect(secured, user: str) -> Client:
    server, passwords = secured
    refusals: list[str] = []

    async def on_error(error):
        refusals.append(str(error).lower())

    settings = ServiceSettings(nats_url=server.url, nats_user=user, nats_password=passwords[user])
    connection = await nats.connect(**settings.nats_options(), error_cb=on_error)
    return Client(connection, refusals)


def collector(into: list):
    async def collect(message):
        into.append(message)

    return collect


def subject(name: str) -> str:
    return BusTopology(NAMESPACE).subject(name)


async def test_a_service_cannot_publish_on_a_subject_it_does_not_own(secured):
    admin, cache = await connect(secured, "admin"), await connect(secured, "cache")
    seen = []
    try:
        await admin.connection.subscribe(subject("analysis.jobs.normal"), cb=collector(seen))
        await admin.connection.flush()
        await cache.connection.publish(subject("analysis.jobs.normal"), b'{"forged": true}')
        await cache.connection.flush()
        await cache.refused("permissions violation for publish")
        # And a subject it does own goes through.
        await admin.connection.subscribe(subject("cache.invalidate"), cb=collector(seen))
        await admin.connection.flush()

        async def allowed_publish_arrived() -> bool:
            # Core NATS is at most once: sent again until one arrives (seen once under load).
            await cache.connection.publish(subject("cache.invalidate"), b"{}")
            await cache.connection.flush()
            return bool(seen)

        await wait_until(
            allowed_publish_arrived, timeout=15, interval=0.5, message="the allowed publish"
        )
        assert {message.subject for message in seen} == {subject("cache.invalidate")}
    finally:
        await cache.connection.close()
        await admin.connection.close()


@pytest.mark.parametrize("user", [u for u in USERS if u != "admin"])
async def test_no_service_may_read_everything_or_another_inbox(secured, user):
    client = await connect(secured, user)
    try:
        await client.connection.subscribe(">")
        await client.connection.flush()
        await client.refused("permissions violation for subscription")
        other = "gateway" if user != "gateway" else "analysis"
        await client.connection.subscribe(f"{inbox_prefix(other)}.>")
        await client.connection.flush()
        await client.refused(inbox_prefix(other).lower())
    finally:
        await client.connection.close()


async def test_requests_reach_their_responders_and_answers_their_inbox(secured):
    gateway, analysis = await connect(secured, "gateway"), await connect(secured, "analysis")
    try:

        async def answer(message):
            await message.respond(b"pong")  # allowed: a reply to a request it received

        await analysis.connection.subscribe(subject("analysis.run"), "analysis", cb=answer)
        await analysis.connection.flush()
        reply = await gateway.connection.request(subject("analysis.run"), b"ping", timeout=5)
        assert reply.data == b"pong"
        # A batch's answers go to reply subjects named in its body: the gateway's inbox.
        inbox = gateway.connection.new_inbox()
        assert inbox.startswith(inbox_prefix("gateway") + ".")
        got = []
        await gateway.connection.subscribe(inbox, cb=collector(got))
        await gateway.connection.flush()
        await analysis.connection.publish(inbox, b"answer")
        await wait_until(lambda: got, timeout=5, message="the answer in the gateway's inbox")
        assert not analysis.refusals and not gateway.refusals
    finally:
        await gateway.connection.close()
        await analysis.connection.close()


async def test_jetstream_works_within_the_grants(secured):
    from revue.common.bus.streams import ensure_streams

    admin = await connect(secured, "admin")
    gateway, worker = await connect(secured, "gateway"), await connect(secured, "analysis")
    topology = BusTopology(NAMESPACE)
    try:
        await ensure_streams(admin.connection.jetstream(), topology)  # the admin declares
        ack = await gateway.connection.jetstream().publish(
            topology.job_subject("normal"), b"job", headers={"Nats-Msg-Id": uuid.uuid4().hex}
        )
        assert ack.stream == topology.stream("ANALYSIS_JOBS")
        pull = await worker.connection.jetstream().pull_subscribe(
            topology.job_subject("normal"),
            durable="perm-worker-normal",
            stream=topology.stream("ANALYSIS_JOBS"),
        )
        [message] = await pull.fetch(1, timeout=5)
        await message.ack_sync()
        # The gateway may not read the job queue (submitted code) itself...
        with pytest.raises((nats.errors.Error, asyncio.TimeoutError, TimeoutError)):
            await gateway.connection.jetstream().pull_subscribe(
                topology.job_subject("normal"),
                durable="perm-thief",
                stream=topology.stream("ANALYSIS_JOBS"),
            )
        # ...nor change a stream.
        with pytest.raises((nats.errors.Error, asyncio.TimeoutError, TimeoutError)):
            await ensure_streams(worker.connection.jetstream(), topology)
    finally:
        for client in (gateway, worker, admin):
            await client.connection.close()
