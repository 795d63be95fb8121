import json
import logging

import structlog
from opentelemetry.sdk.trace import TracerProvider

from revue.common.observability.logs import configure_logging


def lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_log_lines_are_json_with_service_and_trace_ids(capfd):
    configure_logging("revue-test", "INFO", "json")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        structlog.get_logger("revue.test").info("inside a span", items=3)
        logging.getLogger("uvicorn.error").info("from the standard library")
    records = lines(capfd.readouterr().err)
    ours, stdlib = records[-2], records[-1]
    context = span.get_span_context()
    assert ours["event"] == "inside a span"
    assert ours["service"] == "revue-test"
    assert ours["items"] == 3
    assert ours["trace_id"] == format(context.trace_id, "032x")
    assert ours["span_id"] == format(context.span_id, "016x")
    assert stdlib["event"] == "from the standard library"
    assert stdlib["trace_id"] == ours["trace_id"]


def test_secrets_and_submitted_code_are_never_rendered(capfd):
    configure_logging("revue-test", "INFO", "json")
    structlog.get_logger("revue.test").warning(
        "login", password="Hunter2!", authorization="Bearer abc", code="eval(x)", user="ann"
    )
    output = capfd.readouterr().err
    assert "Hunter2!" not in output
    assert "Bearer abc" not in output
    assert "eval(x)" not in output
    record = lines(output)[-1]
    assert record["password"] == record["authorization"] == record["code"] == "[redacted]"
    assert record["user"] == "ann"
