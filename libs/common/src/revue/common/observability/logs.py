"""Structured JSON logging that carries the current trace.

Every record, from our code or from uvicorn and FastStream through the
standard library, leaves as one JSON line with `service`, `trace_id` and
`span_id`, so a log line can be found from a trace in Jaeger and back.
Values under secret-looking keys are masked before rendering: a password, a
token or submitted code never reaches the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "password",
        "new_password",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "cookie",
        "code",
        "source",
    }
)
REDACTED = "[redacted]"

EventDict = MutableMapping[str, Any]


def add_trace_context(_: Any, __: str, event: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def redact_secrets(_: Any, __: str, event: EventDict) -> EventDict:
    for key in event.keys() & SENSITIVE_KEYS:
        event[key] = REDACTED
    return event


def _render_json(_: Any, __: str, event: EventDict) -> str:
    return orjson.dumps(event, default=str).decode()


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one JSON pipeline."""

    def add_service(_: Any, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        redact_secrets,
        structlog.processors.format_exc_info,
    ]
    renderer = _render_json if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        # Levels below the root logger's are dropped before any processor runs.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own config gives these handlers and levels; ours govern.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).propagate = True
