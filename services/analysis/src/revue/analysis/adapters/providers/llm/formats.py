"""Structured output, negotiated with each server.

Servers differ in what `response_format` they take: OpenAI and vLLM take a
strict `json_schema`; llama-cpp-python's server refuses it (a 500 whose
message names `response_format`) but takes `json_object` with a `schema`;
some take a bare `json_object` only; some nothing. A provider starts at the
best mode and steps down at the first refusal that names the format, then
keeps the mode it learned. In `text` mode the JSON is extracted from the
answer and validated like any other (`wire.read_answer`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prometheus_client import Gauge

llm_output_mode = Gauge(
    "llm_structured_output_mode",
    "The response_format each provider uses (1 on the mode learned)",
    ["provider", "model", "mode"],
)


class OutputMode(StrEnum):
    JSON_SCHEMA = "json_schema"  # strict: the server enforces the schema
    JSON_OBJECT_SCHEMA = "json_object_schema"  # json_object with the schema (llama.cpp)
    JSON_OBJECT = "json_object"  # any JSON object; the schema is in the prompt only
    TEXT = "text"  # no response_format; the JSON is extracted from the text


def response_format(mode: OutputMode, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode is OutputMode.JSON_SCHEMA:
        return {
            "type": "json_schema",
            "json_schema": {"name": "code_review", "strict": True, "schema": schema},
        }
    if mode is OutputMode.JSON_OBJECT_SCHEMA:
        return {"type": "json_object", "schema": schema}
    if mode is OutputMode.JSON_OBJECT:
        return {"type": "json_object"}
    return None


def refuses_format(status: int, body: str) -> bool:
    """The server refused the request because of its response_format.

    OpenAI and vLLM answer 400 or 422; llama-cpp-python's server 500: so the
    message decides, not only the status.
    """
    if status not in (400, 422, 500, 501):
        return False
    text = body.lower()
    return "response_format" in text or "json_schema" in text or "response format" in text


class FormatNegotiation:
    """The mode a provider uses now; steps down at a refusal and keeps what it learned."""

    def __init__(
        self, provider: str, model: str, start: OutputMode = OutputMode.JSON_SCHEMA
    ) -> None:
        self.provider, self.model = provider, model
        self.mode = start
        self.refusals: list[str] = []
        self._show()

    def step_down(self, refused: OutputMode, refusal: str) -> bool:
        """Use the mode after `refused`; False when there is none left (text was refused).

        Calls in flight together may all be refused: only the first steps down,
        the others try again with the mode it chose.
        """
        if refused is not self.mode:
            return True
        order = list(OutputMode)
        index = order.index(self.mode)
        if index + 1 >= len(order):
            return False
        self.refusals.append(f"{self.mode.value}: {refusal[:200]}")
        self.mode = order[index + 1]
        self._show()
        return True

    def _show(self) -> None:
        for mode in OutputMode:
            llm_output_mode.labels(self.provider, self.model, mode.value).set(
                1 if mode is self.mode else 0
            )

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "refused": list(self.refusals)}
