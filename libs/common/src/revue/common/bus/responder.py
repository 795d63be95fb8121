"""Answering a hot request/reply subject with nats-py directly.

FastStream's per-message chain (its logging, acknowledgement, telemetry and
Prometheus middlewares, dependency injection, the anyio task group of a
concurrent subscriber, the reply's own publish chain) was nearly half of the
analysis service's median answer to `analysis.run` (`bench/bench_responder.py`
measures both in one run; figures in bench/RESULTS.md). For the subjects a
client waits on, a `Responder` does what the broker's middlewares do for a
request, and nothing more:

- the event is decoded and validated; a malformed one is answered with a
  `Rejection`, logged and counted in `revue_events_rejected_total`, as
  `broker.RejectMalformed` does for FastStream subscribers;
- a CONSUMER span continues the requester's trace (`consumer_span`);
- `bus_requests_total{subject,outcome}` and `bus_request_duration_seconds`;
- a handler that raises is logged, counted and answered with an
  `internal_error` at once (FastStream would leave the requester to time
  out);
- at most `concurrency` requests at once (beyond that they wait in the
  subscription's bounded pending queue);
- `stop()` drains: no new request is taken, those taken are answered.

Declared like a FastStream subscriber, on the service runtime:

    @runtime.responder(subject, queue="analysis", concurrency=256)
    async def run_analysis(request: RunAnalysis) -> AnalysisReply: ...
"""

from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import MaxPayloadError
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ValidationError

from revue.common.bus.broker import RejectMalformed, validation_summary
from revue.common.contracts.events import ErrorInfo, Event, Rejection
from revue.common.contracts.subjects import is_system_subject
from revue.common.observability.tracing import consumer_span

log = structlog.get_logger("revue.responder")
E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[BaseModel | None]]


class ResponderMetrics:
    def __init__(self, registry: CollectorRegistry, rejections: RejectMalformed) -> None:
        self.requests = Counter(
            "bus_requests_total",
            "Requests answered by a Responder, by outcome (answered, rejected, failed)",
            ["subject", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "bus_request_duration_seconds",
            "Time from a request's arrival to its answer being sent",
            ["subject"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
            registry=registry,
        )
        self.rejected = rejections.rejected


class Responder(Generic[E]):
    def __init__(
        self,
        subject: str,
        queue: str,
        handle: Handler[E],
        *,
        concurrency: int,
        tracer: Tracer,
        metrics: ResponderMetrics,
    ) -> None:
        self.subject = subject
        self.queue = queue
        self.handle = handle
        self.model: type[E] = event_type_of(handle)
        self.tracer = tracer
        self._slots = asyncio.Semaphore(concurrency)
        self._nats: Client | None = None
        self._subscription: Subscription | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self._answered = metrics.requests.labels(subject, "answered")
        self._rejected_requests = metrics.requests.labels(subject, "rejected")
        self._failed = metrics.requests.labels(subject, "failed")
        self._rejected_events = metrics.rejected.labels(subject=subject)
        self._duration = metrics.duration.labels(subject)

    @property
    def accepting(self) -> bool:
        return self._subscription is not None

    async def start(self, nats: Client) -> None:
        self._nats = nats
        self._subscription = await nats.subscribe(
            self.subject, queue=self.queue, cb=self._received, pending_msgs_limit=65_536
        )

    async def stop(self, timeout: float) -> None:
        """Take no new request; answer the ones taken (within `timeout`)."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            try:
                await subscription.drain()
            except Exception as error:  # the connection is already closing
                log.info("responder drain cut short", subject=self.subject, error=repr(error))
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=timeout)

    async def _received(self, message: Msg) -> None:
        # nats-py calls this for one message at a time: each answer runs in
        # its own task, and waiting here for a slot is the backpressure.
        await self._slots.acquire()
        task = asyncio.create_task(self._answer(message, time.perf_counter()))
        self._answering.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        self._slots.release()

    async def _answer(self, message: Msg, arrived: float) -> None:
        counter = self._answered
        if message.reply and is_system_subject(message.reply):
            self._rejection(f"refused to answer on the system subject {message.reply[:60]!r}")
            self._rejected_requests.inc()
            self._duration.observe(time.perf_counter() - arrived)
            return
        try:
            with consumer_span(self.tracer, self.subject, message.headers):
                try:
                    event = self.model.model_validate_json(message.data)
                except ValidationError as error:
                    counter = self._rejected_requests
                    answer: BaseModel | None = self._rejection(validation_summary(error))
                else:
                    answer = await self.handle(event)
                if message.reply and answer is not None and self._nats is not None:
                    await publish_answer(self._nats, message.reply, answer)
        except Exception as error:
            counter = self._failed
            log.exception("request failed", subject=self.subject, error=repr(error))
            await self._answer_failure(message)
        finally:
            counter.inc()
            self._duration.observe(time.perf_counter() - arrived)

    async def _answer_failure(self, message: Msg) -> None:
        """A request whose handler crashed is told so now, not left to time out."""
        if not message.reply or self._nats is None:
            return
        failure = Rejection(
            error=ErrorInfo(code="internal_error", message="the service failed on this request")
        )
        try:
            await self._nats.publish(message.reply, failure.model_dump_json().encode())
        except Exception as error:  # the connection is gone: the requester will time out
            log.warning("failure answer not sent", subject=self.subject, error=repr(error))

    def _rejection(self, reason: str) -> Rejection:
        self._rejected_events.inc()
        log.warning("event rejected", subject=self.subject, reason=reason)
        return Rejection(error=ErrorInfo(code="malformed_event", message=reason))


async def publish_answer(nats: Client, subject: str, answer: BaseModel) -> None:
    """Send an answer; one larger than a NATS message is answered with a `Rejection` saying so."""
    try:
        await nats.publish(subject, answer.model_dump_json().encode())
    except MaxPayloadError:
        too_large = Rejection(
            error=ErrorInfo(
                code="reply_too_large",
                message="the answer is larger than the bus can carry; ask for fewer findings",
            )
        )
        await nats.publish(subject, too_large.model_dump_json().encode())


def event_type_of(handle: Callable[..., object]) -> type[E]:
    """The event model a handler takes: the annotation of its one parameter."""
    hints = typing.get_type_hints(handle)
    hints.pop("return", None)
    if len(hints) != 1:
        raise TypeError(f"{handle.__name__} must take exactly one annotated event parameter")
    (model,) = hints.values()
    if not (isinstance(model, type) and issubclass(model, Event)):
        raise TypeError(f"{handle.__name__} must take an Event, not {model!r}")
    return model
