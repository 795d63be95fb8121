"""Ask another service over the bus: one request/reply, a clear 503 when nobody answers.

The gateway's routes for other services' figures and reports (cache stats,
batching figures, the cdn manifest, the query-optimizer's report) go through
here, so a missing or slow service is always the same answer: 503 with
Retry-After, naming the service. `ask_all` asks every replica of a service
at once (a subject with no queue group) and gathers their answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from revue.gateway.context import Gateway
from revue.gateway.errors import ApiError


async def ask_raw(
    context: Gateway, subject: str, service: str, payload: bytes = b"{}", timeout: float = 3
) -> bytes:
    """One request/reply to `service`; 503 + Retry-After when nobody answers."""
    try:
        reply = await context.runtime.nats.request(
            context.runtime.topology.subject(subject), payload, timeout=timeout
        )
    except (NoRespondersError, NatsTimeoutError, TimeoutError) as error:
        raise ApiError(
            503, f"the {service} service did not answer", headers={"Retry-After": "5"}
        ) from error
    return reply.data


async def ask(context: Gateway, subject: str, service: str) -> dict[str, Any]:
    return orjson.loads(await ask_raw(context, subject, service))


async def ask_all(
    context: Gateway,
    subject: str,
    service: str,
    *,
    timeout: float = 1.0,
    quiet: float = 0.05,
) -> list[dict[str, Any]]:
    """Every replica's answer: gathered until `quiet` seconds pass without a new one
    (replicas answer within a millisecond or two of each other) or `timeout` ends."""
    nats, loop = context.runtime.nats, asyncio.get_running_loop()
    answers: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def collect(message: Msg) -> None:
        answers.append(orjson.loads(message.data))
        arrived.set()

    inbox = nats.new_inbox()
    subscription = await nats.subscribe(inbox, cb=collect)
    try:
        await nats.publish(context.runtime.topology.subject(subject), b"{}", reply=inbox)
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), min(left, quiet) if answers else left)
            except TimeoutError:
                if answers:
                    break
    finally:
        await subscription.unsubscribe()
    if not answers:
        raise ApiError(503, f"the {service} service did not answer", headers={"Retry-After": "5"})
    return answers
