"""The gateway's side of the synchronous analysis: requests grouped over NATS.

Requests that arrive while others are on their way travel together in one
`analysis.run.batch` message, so the bus's per-message costs (the analysis
service's work per message, the NATS hop, the flushes) are paid once per
group rather than per request (`RequestGroups` decides when a request goes).
Each request is answered on its own reply subject (`ReplyInbox`) as soon as
it is done.

Transport outcomes become HTTP outcomes here: nobody listening -> 503 with
Retry-After; no answer within the request's timeout -> 504; a request too
large for a message -> 413; a batch that ended without this request's
answer -> 502. The reply's own
failure (provider down, circuit open, input refused) is mapped by
`raise_for_failure`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import (
    ConnectionClosedError,
    MaxPayloadError,
    NoRespondersError,
    OutboundBufferLimitError,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from revue.common.contracts import subjects
from revue.common.contracts.events import (
    AnalysisReply,
    BatchedRun,
    Rejection,
    RunAnalysis,
    RunAnalysisBatch,
)
from revue.common.contracts.subjects import BusTopology
from revue.common.observability.tracing import send_span
from revue.gateway.adapters.reply_inbox import ReplyInbox
from revue.gateway.adapters.request_groups import Grouping, RequestGroups
from revue.gateway.errors import ApiError, raise_for_failure

tracer = trace.get_tracer("revue.gateway.adapters.analysis_client")


class UnansweredError(Exception):
    """The analysis service finished a batch without answering this request."""


@dataclass(frozen=True)
class PendingRun:
    run: BatchedRun
    answered: asyncio.Future[Msg]


class AnalysisClient:
    def __init__(
        self,
        nats: Callable[[], Client],
        topology: BusTopology,
        margin: float,
        grouping: Grouping | None = None,
    ) -> None:
        self._nats = nats
        self.subject = topology.subject(subjects.ANALYSIS_RUN_BATCH)
        self.single_subject = topology.subject(subjects.ANALYSIS_RUN)
        self.margin = margin
        self.inbox = ReplyInbox()
        self.groups: RequestGroups[PendingRun] = RequestGroups(
            self._send, grouping or Grouping(), name="analysis_run"
        )
        self._starting = asyncio.Lock()
        self._resending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        async with self._starting:
            await self.inbox.start(self._nats())

    async def stop(self) -> None:
        await self.inbox.stop()

    async def run(self, request: RunAnalysis) -> AnalysisReply:
        if not self.inbox.started:
            await self.start()
        reply_to, answered = self.inbox.open()
        try:
            with send_span(tracer, self.single_subject, kind=SpanKind.CLIENT) as trace_headers:
                async with asyncio.timeout(request.timeout_s + self.margin):
                    run = BatchedRun.model_construct(
                        request=request, reply_to=reply_to, trace=trace_headers
                    )
                    await self.groups.submit(PendingRun(run, answered))
                    message = await answered
            if _no_responders(message):
                raise NoRespondersError
        except NoRespondersError as error:
            raise ApiError(
                503, "no analysis service is available", headers={"Retry-After": "5"}
            ) from error
        except TimeoutError as error:
            raise ApiError(
                504, f"analysis did not finish within {request.timeout_s:g} s"
            ) from error
        except MaxPayloadError as error:
            raise ApiError(413, "the request is larger than the bus can carry") from error
        except UnansweredError as error:
            raise ApiError(502, "the analysis service did not answer this request") from error
        except (ConnectionClosedError, OutboundBufferLimitError) as error:
            raise ApiError(
                503, "the message bus is unavailable", headers={"Retry-After": "5"}
            ) from error
        finally:
            self.inbox.forget(reply_to)
        try:
            return AnalysisReply.model_validate_json(message.data)
        except ValueError as error:
            refused = _rejection_in(message.data)
            if refused is not None:  # refused or failed before it could answer
                raise_for_failure(refused.error)
            raise ApiError(502, "the analysis service sent an unreadable answer") from error

    async def _send(self, group: list[PendingRun]) -> asyncio.Future[Msg] | None:
        """Publish one group; the future of its answer, or None (its requests told why).

        A group of one is a plain `analysis.run` whose reply (or the server's
        no-responders status) comes straight to the request's reply subject:
        one message each way, as before grouping. A larger one is an
        `analysis.run.batch`, halved until it fits a message.
        """
        # Callers that gave up while their request waited are not sent.
        group = [outgoing for outgoing in group if not outgoing.answered.done()]
        if not group:
            return None
        nats = self._nats()
        if len(group) == 1:
            run, answered = group[0].run, group[0].answered
            payload = run.request.model_dump_json().encode()
            if await self._published(group, self.single_subject, payload, run.reply_to):
                return answered
            return None
        runs = [outgoing.run for outgoing in group]
        batch_reply, batch_answered = self.inbox.open()
        payload = RunAnalysisBatch.model_construct(runs=runs).model_dump_json().encode()
        if len(payload) > nats.max_payload:
            self.inbox.forget(batch_reply)
            half = len(group) // 2
            await self._send(group[:half])
            return await self._send(group[half:])
        if not await self._published(group, self.subject, payload, batch_reply):
            self.inbox.forget(batch_reply)
            return None
        batch_answered.add_done_callback(partial(self._batch_answered, group))
        longest = max(run.request.timeout_s for run in runs) + self.margin
        asyncio.get_running_loop().call_later(longest, self.inbox.forget, batch_reply)
        return batch_answered

    async def _published(
        self, group: list[PendingRun], subject: str, payload: bytes, reply: str
    ) -> bool:
        try:
            await self._nats().publish(
                subject, payload, reply=reply, headers=group[0].run.trace or None
            )
        except Exception as error:  # too large; the connection closed or its buffer full
            for outgoing in group:
                self.inbox.fail(outgoing.run.reply_to, error)
            return False
        return True

    def _batch_answered(self, group: list[PendingRun], answered: asyncio.Future[Msg]) -> None:
        """The message's own reply: every request still waiting now never will be.

        Nobody taking `analysis.run.batch` (an analysis service from before
        grouping, during a rolling upgrade) is not the end: each request is
        sent again alone, as `analysis.run`, which answers for itself.
        """
        if answered.cancelled() or answered.exception() is not None:
            return
        if _no_responders(answered.result()):
            task = asyncio.get_running_loop().create_task(self._send_alone(group))
            self._resending.add(task)
            task.add_done_callback(self._resending.discard)
            return
        for outgoing in group:
            self.inbox.fail(outgoing.run.reply_to, UnansweredError())

    async def _send_alone(self, group: list[PendingRun]) -> None:
        for outgoing in group:
            if not outgoing.answered.done():
                await self._send([outgoing])


def _no_responders(message: Msg) -> bool:
    """The server's own answer to a request nobody subscribes to (status 503)."""
    return message.headers is not None and message.headers.get("Status") == "503"


def _rejection_in(data: bytes) -> Rejection | None:
    try:
        return Rejection.model_validate_json(data)
    except ValueError:
        return None
