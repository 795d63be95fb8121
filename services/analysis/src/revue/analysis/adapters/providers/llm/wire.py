"""What Revue says to a language model and how it reads the answer.

One wire format for every call, packed or not, so that any model (and any
stand-in) can follow it and the system prompt is a stable prefix that
providers' prompt caching applies to:

- the user message lists each item as a line `### item <id> (<language>;
  focus: <rules>)` followed by its code in a fenced block;
- the answer is JSON `{"items": [{"id": "<id>", "findings": [...]}]}`.

Reading is per item and never trusts the model: an answer that is not JSON
fails every item of the call; an unknown id or an extra entry is ignored; an
id answered twice, or findings that do not validate, fail that item only; an
item the answer leaves out fails as missing. The caller retries those items
alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from revue.analysis.adapters.providers import AnalysisInput
from revue.common.contracts.events import Finding

SYSTEM_PROMPT = (
    "You are a meticulous code reviewer. The user sends one or more items, each a line "
    '"### item <id> (<language>; focus: <rules>)" followed by its code in a fenced block. '
    "For every item, report the concrete problems in its code that match its focus: "
    "security flaws (injection, unsafe deserialization, weak cryptography, secrets in code), "
    "bugs, and excessive complexity. Answer with JSON only, in this shape: "
    '{"items": [{"id": "<id>", "findings": [{"rule_id": "<short rule name>", '
    '"severity": "info|low|medium|high|critical", "line": <1-based line>, '
    '"column": <1-based column>, "message": "<what is wrong>", '
    '"fix_hint": "<how to fix it>"}]}]}. '
    "Give exactly one entry per item, with the item's own id. "
    "An item without problems has an empty findings list."
)
ALL_RULES = "security, quality, complexity"
MAX_ANSWER_CHARS = 2_000_000  # past this, no JSON is looked for (a runaway answer)


class ModelFinding(BaseModel):
    rule_id: str = Field(min_length=1, max_length=200)
    severity: Literal["info", "low", "medium", "high", "critical"]
    line: int = Field(ge=0)  # 0: the item as a whole
    column: int = Field(default=1, ge=0)
    message: str = Field(min_length=1, max_length=2000)
    fix_hint: str | None = Field(default=None, max_length=2000)


class ItemAnswer(BaseModel):
    id: str = Field(max_length=64)
    findings: list[ModelFinding] = Field(max_length=1000)


SEVERITIES = ["info", "low", "medium", "high", "critical"]
# Longest strings a grammar lets a model write (see answer_schema's `max_findings`).
GRAMMAR_MAX_CHARS = {"rule_id": 40, "message": 200, "fix_hint": 200}
# A finding's keys and punctuation, `{"rule_id": "", "severity": "critical", ...}`.
FINDING_FRAME_CHARS = 100
# Few enough that code, digits and punctuation, which tokenize worst, still fit.
CHARS_PER_TOKEN = 3
# An item's `{"id": "<id>", "findings": []}` in the answer.
ENTRY_TOKENS = 24


def findings_that_fit(item_tokens: int) -> int:
    """How many of the longest findings the grammar allows fit an item's share of the
    answer's `max_tokens` (at least one): more, and a model that writes long findings
    is cut off mid-answer, failing the items after the cut."""
    longest = (sum(GRAMMAR_MAX_CHARS.values()) + FINDING_FRAME_CHARS) / CHARS_PER_TOKEN
    return max(1, int((item_tokens - ENTRY_TOKENS) // longest))


def answer_schema(
    ids: Sequence[str], *, one_per_id: bool = False, max_findings: int = 5
) -> dict[str, Any]:
    """The answer's JSON schema for one call, its ids enumerated.

    Written by hand in the subset every structured-output server takes (OpenAI's
    strict mode: every property required, no additional ones, no bounds); with
    the ids as an enum, a model cannot invent one. `one_per_id` (for servers
    that turn the schema into a grammar, llama.cpp's) goes further: exactly one
    entry per id, in order (`prefixItems`), so a small model can neither skip an
    item nor answer one twice; and bounds (`max_findings` per item, short
    strings), so a small model caught in a loop, writing the same finding again
    and again, is made to close its answer before `max_tokens` cuts the JSON
    (which would fail every item of the call). Reading checks bounds too
    (`ModelFinding`).
    """
    finding = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "rule_id": {"type": "string"},
            "severity": {"type": "string", "enum": SEVERITIES},
            "line": {"type": "integer"},
            "column": {"type": "integer"},
            "message": {"type": "string"},
            "fix_hint": {"type": ["string", "null"]},
        },
        "required": ["rule_id", "severity", "line", "column", "message", "fix_hint"],
    }
    item = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "enum": list(ids)},
            "findings": {"type": "array", "items": finding},
        },
        "required": ["id", "findings"],
    }
    entries: dict[str, Any] = {"type": "array", "items": item}
    if one_per_id:
        # ModelFinding's bounds, where the grammar can hold them (llama-cpp-python's
        # ignores `minimum`; llama.cpp's and vLLM's keep it): an empty rule id from
        # SmolLM2 failed its item, twice, as the retry asked the same at temperature 0.
        bounded = {name: {"maxLength": chars} for name, chars in GRAMMAR_MAX_CHARS.items()}
        bounded["rule_id"]["minLength"] = bounded["message"]["minLength"] = 1
        bounded |= {"line": {"minimum": 0}, "column": {"minimum": 0}}
        properties = {
            name: {**schema, **bounded.get(name, {})}
            for name, schema in finding["properties"].items()
        }
        # A length on `"type": ["string", "null"]` is lost on the way to a grammar (it
        # becomes any string: a looping model filled its max_tokens there); as a choice
        # between a bounded string and null it holds.
        hint_bound = properties["fix_hint"].pop("maxLength")
        properties["fix_hint"] = {
            "anyOf": [{"type": "string", "maxLength": hint_bound}, {"type": "null"}]
        }
        bounded_finding = {**finding, "properties": properties}
        findings = {"type": "array", "items": bounded_finding, "maxItems": max_findings}
        tuple_items = []
        for item_id in ids:
            properties = {"id": {"const": item_id}, "findings": findings}
            tuple_items.append({**item, "properties": properties})
        entries = {
            "type": "array",
            "prefixItems": tuple_items,
            "items": False,
            "minItems": len(ids),
            "maxItems": len(ids),
        }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"items": entries},
        "required": ["items"],
    }


def fence_for(code: str) -> str:
    """A backtick fence longer than any run of backticks in the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def item_block(item_id: str, item: AnalysisInput) -> str:
    focus = ", ".join(item.rules) or ALL_RULES
    fence = fence_for(item.code)
    code = item.code if item.code.endswith("\n") else item.code + "\n"
    heading = f"### item {item_id} ({item.language}; focus: {focus})"
    return f"{heading}\n{fence}{item.language}\n{code}{fence}\n"


def user_message(items: Sequence[tuple[str, AnalysisInput]]) -> str:
    return "\n".join(item_block(item_id, item) for item_id, item in items)


def messages(items: Sequence[tuple[str, AnalysisInput]]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(items)},
    ]


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """Why an item got no usable answer from a call (it is then retried alone)."""

    reason: str


ITEMS_START = re.compile(r'\{\s*"items"\s*:\s*\[\s*')
BETWEEN_ENTRIES = re.compile(r"\s*,?\s*")


def complete_entries(text: str) -> dict[str, Any] | None:
    """The entries an answer cut short finished (`max_tokens` reached mid-way):
    `{"items": [{...}, {...}, {"id": "3", "find` gives the first two, so only the
    third item and those after it are asked again, not the whole pack."""
    start = ITEMS_START.search(text)
    if start is None:
        return None
    decoder = LENIENT
    entries, position = [], start.end()
    while position < len(text):
        try:
            entry, position = decoder.raw_decode(text, position)
        except ValueError:
            break  # the entry the cut fell in (or the list's end)
        entries.append(entry)
        position = BETWEEN_ENTRIES.match(text, position).end()  # type: ignore[union-attr]
    return {"items": entries} if entries else None


# A small model writes a line break or a tab inside a JSON string as it is, where JSON
# wants `\n` (a grammar built from the schema lets it): strict parsing refused the whole
# answer ("Invalid control character"), every item of the call then retried.
LENIENT = json.JSONDecoder(strict=False)


def extract_json(content: str) -> Any:
    """The answer's JSON: the whole text, else the entries of an answer cut short, else
    the first object in it (a model that wraps its JSON in prose or a fenced block, as
    plain-text mode allows)."""
    text = content.strip()
    try:
        return LENIENT.decode(text)
    except ValueError:
        pass
    if len(text) > MAX_ANSWER_CHARS:
        raise ValueError("answer too long to search for JSON")
    if (finished := complete_entries(text)) is not None:
        return finished
    decoder = LENIENT
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict) and "items" in value:
            return value
    raise ValueError("no JSON object with items in the answer")


def read_answer(content: str, ids: Sequence[str]) -> dict[str, list[Finding] | ItemFailure]:
    """Each asked id's findings, or why it has none; entries for ids not asked are ignored."""
    try:
        document = extract_json(content)
    except ValueError as error:
        return dict.fromkeys(ids, ItemFailure(f"answer is not JSON: {error}"))
    entries = document.get("items") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return dict.fromkeys(ids, ItemFailure("answer has no items list"))
    wanted = set(ids)
    seen: dict[str, Any] = {}
    answered_twice: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        item_id = str(entry.get("id", ""))
        if item_id not in wanted:
            continue  # an id nobody asked for, or more items than asked: ignored
        if item_id in seen:
            answered_twice.add(item_id)
        seen[item_id] = entry
    outcome: dict[str, list[Finding] | ItemFailure] = {}
    for item_id in ids:
        if item_id in answered_twice:
            outcome[item_id] = ItemFailure("the answer gives this item twice")
        elif item_id not in seen:
            outcome[item_id] = ItemFailure("the answer leaves this item out")
        else:
            try:
                answer = ItemAnswer.model_validate(seen[item_id])
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                outcome[item_id] = ItemFailure(
                    f"findings do not validate ({where}: {first['msg']})"
                )
                continue
            outcome[item_id] = [Finding(**finding.model_dump()) for finding in answer.findings]
    return outcome
