"""Publish one event to its JetStream stream and wait for the stream's acknowledgement.

The one way a service records a fact on a stream (`cdn.asset.published`,
`query.recommendation.created`, `analysis.dead`, ...): the subject is the
contract's name with the deployment's namespace applied, the payload the
event's JSON, the headers carry the current trace, and `msg_id` (a
`Nats-Msg-Id`) lets the stream drop a repeat within its duplicate window.
Many messages at once, with bounded waits and re-sends, go through
`confirmed_publish` instead.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.api import PubAck

from revue.common.contracts.events import Event
from revue.common.contracts.subjects import BusTopology
from revue.common.observability.tracing import inject_trace


async def publish_event(
    nats: Client,
    topology: BusTopology,
    subject: str,
    event: Event,
    *,
    msg_id: str | None = None,
    timeout: float = 5.0,
) -> PubAck:
    headers = inject_trace({"Nats-Msg-Id": msg_id} if msg_id else None)
    return await nats.jetstream().publish(
        topology.subject(subject),
        event.model_dump_json().encode(),
        timeout=timeout,
        headers=headers,
    )
