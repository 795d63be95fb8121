"""The broker factory: one NatsBroker shape for every service.

Every broker carries, outermost first: OpenTelemetry (W3C trace context in
message headers, a span per publish and per consume), Prometheus message
metrics, and `RejectMalformed`, which turns a message that does not fit its
event schema into a logged, counted rejection instead of a crashed handler or
an endless redelivery.

FastStream logs every message at INFO by default; hot paths should not, so
the broker logs its per-message lines at DEBUG unless told otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from faststream._internal.middlewares import BaseMiddleware
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from faststream.security import SASLPlaintext
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from revue.common.contracts.events import ErrorInfo, MalformedEventError, Rejection
from revue.common.contracts.subjects import is_system_subject
from revue.common.settings import ServiceSettings, redacted_url

log = structlog.get_logger("revue.bus")
JETSTREAM_ACK = "$JS.ACK."


class _RejectScope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, rejected: Counter) -> None:
        super().__init__(msg, context=context)
        self.rejected = rejected

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        reply = getattr(msg.raw_message, "reply", "") or ""
        # A JetStream delivery's reply is the server's own `$JS.ACK.` subject.
        if is_system_subject(reply) and not reply.startswith(JETSTREAM_ACK):
            subject = getattr(msg.raw_message, "subject", "?")
            self.rejected.labels(subject=subject).inc()
            log.warning("request refused: its reply is a system subject", subject=subject)
            msg.reply_to = ""  # nothing is sent there, not even a Rejection
            return None
        try:
            return await call_next(msg)
        except (MalformedEventError, ValidationError) as error:
            subject = getattr(msg.raw_message, "subject", "?")
            reason = (
                error.reason
                if isinstance(error, MalformedEventError)
                else validation_summary(error)
            )
            self.rejected.labels(subject=subject).inc()
            log.warning("event rejected", subject=subject, reason=reason)
            # On JetStream this terminates the message: redelivering a payload
            # that can never validate would only burn deliveries.
            await msg.reject()
            return Rejection(error=ErrorInfo(code="malformed_event", message=reason))


def validation_summary(error: ValidationError) -> str:
    """The first few problems of a failed validation, one line (logs, rejections)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()[:5]
    )


class RejectMalformed:
    """Middleware factory: counts rejections in the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejected = Counter(
            "revue_events_rejected_total",
            "Messages rejected because they did not fit their event schema",
            ["subject"],
            registry=registry,
        )

    def __call__(self, msg: Any, /, *, context: Any) -> _RejectScope:
        return _RejectScope(msg, context=context, rejected=self.rejected)


def create_broker(
    settings: ServiceSettings,
    *,
    registry: CollectorRegistry,
    tracer_provider: TracerProvider | None = None,
    log_level: int = logging.DEBUG,
    rejections: RejectMalformed | None = None,
) -> NatsBroker:
    """A NatsBroker wired with telemetry, metrics and malformed-message handling.

    `rejections`: the counter to share with the service's `Responder`s.
    """

    where = redacted_url(settings.nats_url)  # never credentials in a log line

    async def on_disconnected() -> None:
        # Info, not warning: every clean shutdown disconnects too; reconnects are logged.
        log.info("nats disconnected", url=where)

    async def on_reconnected() -> None:
        log.info("nats reconnected", url=where)

    async def on_error(error: Exception) -> None:
        log.warning("nats error", error=str(error))

    options = settings.nats_options()
    security = (
        SASLPlaintext(username=options.pop("user"), password=options.pop("password"))
        if "user" in options
        else None
    )
    return NatsBroker(
        options.pop("servers"),
        security=security,
        **options,
        name=settings.otel_service_name,
        middlewares=[
            NatsTelemetryMiddleware(tracer_provider=tracer_provider),
            NatsPrometheusMiddleware(registry=registry, app_name=settings.otel_service_name),
            rejections or RejectMalformed(registry),
        ],
        logger=logging.getLogger("revue.bus.faststream"),
        log_level=log_level,
        graceful_timeout=settings.shutdown_timeout,
        # Keep trying forever: a service outlives a NATS restart.
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        error_cb=on_error,
    )
