"""HTTP request metrics, request ids and access logs, the same on every service.

The outermost middleware of every service app (see `ServiceRuntime.build_app`),
so a request refused by an inner middleware (body too large, rate limited) is
counted and logged like any other. It runs inside FastAPI's server span, so the
access log line carries the request's trace id.

Labels stay bounded: the route is the matched route's template
(`/api/v1/analyses/{job_id}`), never the raw path; a request no route matched
is counted under `unmatched`. The access log says method, route, status and
duration, never the query string, headers or client address (they can carry
tokens and personal data).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# A client's own request id is kept when it is short and plain (it goes into logs).
CLIENT_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# Probes and scrapes every few seconds would drown the access log.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

access_log = structlog.get_logger("revue.access")
# The same logger's standard-library side: asking it first whether the line
# would be kept is far cheaper than a structlog call that is then dropped.
access_level = logging.getLogger("revue.access")


class HttpMetrics:
    """The RED metrics of one service's HTTP server, in its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response body",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress", "HTTP requests being served", registry=registry
        )
        # Labelled children, looked up once per label set instead of on every request.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self._counted[(method, route, status)] = self.requests.labels(
                method, route, str(status)
            )
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = self.duration.labels(method, route)
        counted.inc()
        timed.observe(seconds)


def log_request(method: str, path: str, route: str, status: int, seconds: float) -> None:
    """The access log line of one request (probes and scrapes at debug level)."""
    quiet = path in QUIET_PATHS
    if not access_level.isEnabledFor(logging.DEBUG if quiet else logging.INFO):
        return
    log = access_log.debug if quiet else access_log.info
    log("request", method=method, route=route, status=status, duration_ms=round(seconds * 1000, 2))


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and CLIENT_REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class RequestTelemetry:
    """Counts, times and logs each request; gives it a request id echoed in `X-Request-ID`."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        status = 500  # what the client sees when the app fails before answering
        header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        self.metrics.in_progress.inc()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self.metrics.in_progress.dec()
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        method, path = scope["method"], scope["path"]
        route = route_template(scope)
        self.metrics.observe(method, route, status, elapsed)
        log_request(method, path, route, status, elapsed)
