"""The gateway's side of `analysis.run`: one request/reply over NATS.

Transport outcomes become HTTP outcomes here: nobody listening -> 503 with
Retry-After; no answer within the request's timeout -> 504. The reply's own
failure (provider down, circuit open, input refused) is mapped by
`raise_for_failure`.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from revue.common import subjects
from revue.common.events import AnalysisReply, ErrorInfo, RunAnalysis
from revue.common.subjects import BusTopology
from revue.common.telemetry import send_span
from revue.gateway.errors import ApiError

tracer = trace.get_tracer("revue.gateway.analysis_client")


class AnalysisClient:
    def __init__(self, nats: Callable[[], Client], topology: BusTopology, margin: float) -> None:
        self._nats = nats
        self.subject = topology.subject(subjects.ANALYSIS_RUN)
        self.margin = margin

    async def run(self, request: RunAnalysis) -> AnalysisReply:
        try:
            with send_span(tracer, self.subject, kind=SpanKind.CLIENT) as headers:
                message = await self._nats().request(
                    self.subject,
                    request.model_dump_json().encode(),
                    timeout=request.timeout_s + self.margin,
                    headers=headers,
                )
        except NoRespondersError as error:
            raise ApiError(
                503, "no analysis service is available", headers={"Retry-After": "5"}
            ) from error
        except (NatsTimeoutError, TimeoutError) as error:
            raise ApiError(
                504, f"analysis did not finish within {request.timeout_s:g} s"
            ) from error
        try:
            return AnalysisReply.model_validate_json(message.data)
        except ValueError as error:
            raise ApiError(502, "the analysis service sent an unreadable answer") from error


def raise_for_failure(error: ErrorInfo | None) -> None:
    """Turn a failed reply into the HTTP error a client should see."""
    if error is None:
        raise ApiError(502, "analysis failed without a reason")
    retry = {"Retry-After": str(max(1, round(error.retry_after_s or 5)))}
    if error.code == "timeout":
        raise ApiError(504, "analysis timed out", code="timeout")
    if error.code == "provider_rejected":
        raise ApiError(
            422, f"the analysis provider refused this input: {error.message}", code=error.code
        )
    if error.retryable:
        detail = "the analysis provider is unavailable; try again later"
        if error.code == "circuit_open":
            detail = "the analysis provider is failing; requests are paused"
        raise ApiError(503, detail, code=error.code, headers=retry)
    raise ApiError(502, error.message, code=error.code)
