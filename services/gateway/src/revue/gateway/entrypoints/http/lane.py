"""The lane of `POST /api/v1/analyze` for bearer-token clients: the app's front door.

Synchronous analysis is the suite's hot path, and most of it repeats:
answered from this process's L1 cache, FastAPI's per-request machinery (its
native telemetry, the middleware chain, routing, dependency solving,
response validation) cost several times the answer itself, and for a miss
it cost as much as the trip over NATS (bench/RESULTS.md). This lane sits
before all of it (`ServiceApp.front_door`): verified bearer token ->
validated body -> rate limit -> L1 hit, else `analyze_sync` (the route's own
code: L2, then the analysis service) -> response, recorded like any other.

Anything it is not built for goes to the full application with the body
replayed untouched: no or unverifiable credentials (the full app answers
401 with its reason), an API key, a CORS request, a body that does not
validate (422 with every field) or is too large (413). For the requests it
answers, the lane does in one place what the middleware does for the rest,
with the same names and values: the server span, request id, HTTP metrics
and access log, security and rate-limit headers, one error shape, and
compression (through the same compression middleware).
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from uuid import uuid4

import orjson
import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware

from revue.common.observability.http_telemetry import HttpMetrics, log_request, request_id_of
from revue.gateway.adapters.jobs import request_hash
from revue.gateway.context import Gateway
from revue.gateway.entrypoints.http.middleware import API_HEADERS, rate_limit_headers, send_payload
from revue.gateway.entrypoints.http.principal import Principal, principal_from_token
from revue.gateway.errors import ApiError, error_body, validation_success_total
from revue.gateway.security import InvalidTokenError
from revue.gateway.services import analyze_sync, key_for
from revue.gateway.validation import CodeAnalysisRequest
from revue.gateway.views import view_of

PATH = "/api/v1/analyze"
METHOD = "POST"
SPAN_NAME = f"{METHOD} {PATH}"  # what FastAPI names the route's server span
# The attributes FastAPI puts on a route's server span that say which route it is.
SPAN_ATTRIBUTES = {"http.request.method": METHOD, "url.path": PATH, "http.route": PATH}
ANSWER = "revue.answer"  # scope key: the prepared response, for the compression pass
lane_answers_total = Counter(
    "gateway_cache_lane_answers_total",
    "POST /analyze cache hits answered in the lane, without FastAPI's request machinery",
)
log = structlog.get_logger("revue.gateway.entrypoints.http.lane")


async def send_prepared(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app behind the lane's compression pass: sends the prepared answer."""
    status, headers, payload = scope[ANSWER]
    await send_payload(send, status, payload, headers)


class AnalyzeLane:
    def __init__(
        self, app: ASGIApp, context: Gateway, metrics: HttpMetrics, tracer: trace.Tracer
    ) -> None:
        self.app = app
        self.context = context
        self.metrics = metrics
        self.tracer = tracer
        settings = context.settings
        self.max_body = settings.max_body_bytes
        self.cors = bool(settings.cors_origins)
        self.compression_minimum = settings.compression_minimum_size
        # The gateway's own compression middleware, around an app that sends the lane's answer.
        self.compress = CompressMiddleware(send_prepared, minimum_size=self.compression_minimum)
        self.validations = validation_success_total.labels(PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, started_ns = time.perf_counter(), time.time_ns()
        headers = self._lane_headers(scope)
        principal = self._bearer_principal(headers) if headers is not None else None
        if principal is None:
            await self.app(scope, receive, send)
            return
        received, body = await read_body(receive, self.max_body)
        request = validated(body) if body is not None else None
        if request is None:
            await self.app(scope, replaying(received, receive), send)
            return
        span = self.tracer.start_span(
            SPAN_NAME,
            context=propagate.extract(headers) if "traceparent" in headers else None,
            kind=SpanKind.SERVER,
            start_time=started_ns,
            attributes=SPAN_ATTRIBUTES,
        )
        request_id = request_id_of(scope)
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        attached = otel_context.attach(trace.set_span_in_context(span))
        self.metrics.in_progress.inc()
        status = 500
        try:
            status, payload, extra = await self._answer(request, principal)
            response_headers = [*API_HEADERS, *extra, (b"x-request-id", request_id.encode())]
            if len(payload) >= self.compression_minimum and "accept-encoding" in headers:
                scope[ANSWER] = (status, response_headers, payload)
                await self.compress(scope, receive, send)
            else:
                await send_payload(send, status, payload, response_headers)
        finally:
            self.metrics.in_progress.dec()
            elapsed = time.perf_counter() - started
            self.metrics.observe(METHOD, PATH, status, elapsed)
            log_request(METHOD, PATH, PATH, status, elapsed)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(StatusCode.ERROR)
            otel_context.detach(attached)
            structlog.contextvars.reset_contextvars(**bound)
            span.end()

    def _lane_headers(self, scope: Scope) -> dict[str, str] | None:
        """The request's headers when it may be a lane request, else None.

        The first value of each header wins, as in Starlette's `Headers.get`.
        """
        if not (scope["method"] == METHOD and scope["path"] == PATH):
            return None
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        if "x-api-key" in headers or (self.cors and "origin" in headers):
            return None
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.max_body:
            return None  # the full app answers 400 / 413
        return headers

    def _bearer_principal(self, headers: dict[str, str]) -> Principal | None:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential or credential.startswith("rvk_"):
            return None
        try:
            return principal_from_token(self.context.tokens, credential[:4096])
        except (InvalidTokenError, ValueError):
            return None  # the full app answers 401 with its reason

    async def _answer(
        self, request: CodeAnalysisRequest, principal: Principal
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Status, body and headers of the answer: 429, a hit, a computed result or an error."""
        context = self.context
        limits: list[tuple[bytes, bytes]] = []
        if context.settings.rate_limit_enabled:
            decision = await context.limiter.check(
                context.policies["default"], str(principal.user_id)
            )
            limits = rate_limit_headers(decision.headers())
            if not decision.allowed:
                return 429, orjson.dumps(error_body(429, "rate limit 'default' exceeded")), limits
        self.validations.inc()
        key = key_for(context, request.code, request.language, request.rules, request.max_issues)
        raw = context.cache.peek_local(key) if key is not None else None
        if raw is not None:
            context.cache.count_local_hit(key)
            lane_answers_total.inc()
            return 200, self._hit(request, principal, raw), limits
        try:
            row = await analyze_sync(context, request, principal)
        except ApiError as error:
            body = error_body(error.status, error.detail, error.code)
            return error.status, orjson.dumps(body), [*limits, *rate_limit_headers(error.headers)]
        except Exception as error:  # what the app's last-resort handler answers, said once
            log.exception("unhandled error", path=PATH, error=type(error).__name__)
            return 500, orjson.dumps(error_body(500, "internal error", "internal_error")), limits
        return 200, orjson.dumps(view_of(row)), limits

    def _hit(self, request: CodeAnalysisRequest, principal: Principal, raw: bytes) -> bytes:
        """Record a cache hit and render its answer, the cached result's bytes spliced in."""
        now = datetime.now(UTC)
        job_id = uuid4()
        self.context.recorder.record(
            {
                "id": job_id,
                "owner_id": principal.user_id,
                "mode": "sync",
                "status": "succeeded",
                "priority": "normal",
                "language": request.language,
                "idempotency_key": None,
                "request_hash": request_hash(request.model_dump()),
                "result": raw,  # validated JSON, stored as it is
                "error": None,
                "created_at": now,
                "completed_at": now,
            }
        )
        view = {
            "id": job_id,
            "status": "succeeded",
            "mode": "sync",
            "priority": "normal",
            "language": request.language,
            "created_at": now,
            "completed_at": now,
            "result": orjson.Fragment(raw),
            "error": None,
        }
        return orjson.dumps(view, option=orjson.OPT_UTC_Z)


def validated(body: bytes) -> CodeAnalysisRequest | None:
    try:
        return CodeAnalysisRequest.model_validate_json(body)
    except ValidationError:
        return None  # the full app answers 422 with every field's reason


async def read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The messages received, and the whole body; None when the client went away
    or the body outgrew `limit` (the full app then answers, from the same messages)."""
    received: list[Message] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return received, None
        size += len(message.get("body", b""))
        if size > limit:
            return received, None
        if not message.get("more_body", False):
            return received, b"".join(m.get("body", b"") for m in received)


def replaying(received: list[Message], receive: Receive) -> Receive:
    """A receive that hands the next app what was already read, then defers to the real one."""
    pending = deque(received)

    async def replay() -> Message:
        return pending.popleft() if pending else await receive()

    return replay
