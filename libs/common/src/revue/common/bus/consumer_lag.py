"""JetStream consumer lag as Prometheus gauges, sampled by the consumers themselves.

Each fetch loop asks the server for its consumer's figures at most once per
interval (one small request), so lag is visible on `/metrics` without a
separate poller per service. The gauges are process-wide, labelled by stream
and durable name.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from nats.js.api import ConsumerInfo
from prometheus_client import Gauge

SAMPLE_INTERVAL = 5.0
log = structlog.get_logger("revue.consumer_lag")

pending_messages = Gauge(
    "jetstream_consumer_pending_messages",
    "Messages in the stream not yet delivered to the durable consumer",
    ["stream", "consumer"],
)
ack_pending_messages = Gauge(
    "jetstream_consumer_ack_pending_messages",
    "Messages delivered to the consumer and not yet acknowledged",
    ["stream", "consumer"],
)
redelivered_messages = Gauge(
    "jetstream_consumer_redelivered_messages",
    "Unacknowledged messages that were delivered more than once",
    ["stream", "consumer"],
)


def record(info: ConsumerInfo) -> None:
    labels = (info.stream_name, info.name)
    pending_messages.labels(*labels).set(info.num_pending or 0)
    ack_pending_messages.labels(*labels).set(info.num_ack_pending or 0)
    redelivered_messages.labels(*labels).set(info.num_redelivered or 0)


class LagProbe:
    """Samples one pull subscription's consumer at most every `interval` seconds."""

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self._due = 0.0

    async def sample(self, subscription: Any) -> ConsumerInfo | None:
        now = time.monotonic()
        if now < self._due:
            return None
        self._due = now + self.interval
        try:
            info = await subscription.consumer_info()
        except Exception as error:  # reconnecting: the next interval tries again
            log.debug("consumer info unavailable", error=repr(error))
            return None
        record(info)
        return info
