"""Ask another service over the bus: one request/reply, a clear 503 when nobody answers.

The gateway's routes for other services' figures and reports (cache stats,
batching figures, the cdn manifest, the query-optimizer's report) go through
here, so a missing or slow service is always the same answer: 503 with
Retry-After, naming the service.
"""

from __future__ import annotations

from typing import Any

import orjson
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
