"""What clients read: the analysis view, field selection, ETags and cursors.

Field selection follows seed 002's FieldSelector: `fields=id,status,result.findings`
keeps only those paths (dotted paths reach into objects). ETags are strong:
a hash of the exact bytes sent, so they change with the selection too.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict

from revue.common.contracts.events import AnalysisResult, ErrorInfo
from revue.gateway.errors import ApiError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
VIEW_FIELDS = (
    "id", "status", "mode", "priority", "language", "created_at", "completed_at", "result", "error",
)  # fmt: skip


class AnalysisView(BaseModel):
    id: UUID
    status: Literal["queued", "succeeded", "failed"]
    mode: Literal["sync", "async"]
    priority: str
    language: str
    created_at: datetime
    completed_at: datetime | None = None
    result: AnalysisResult | None = None
    error: ErrorInfo | None = None


class SelectedFields(BaseModel):
    """An analysis with `fields=` applied: only the paths asked for, each possibly null
    (a dotted path into a value that is not an object selects null)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID | None = None
    status: str | None = None
    mode: str | None = None
    priority: str | None = None
    language: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class AnalysisPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class JobAccepted(BaseModel):
    id: UUID
    status: str
    location: str


def view_of(row: dict[str, Any]) -> dict[str, Any]:
    return AnalysisView(**{name: row.get(name) for name in VIEW_FIELDS}).model_dump(mode="json")


def parse_fields(raw: str | list[str] | None) -> list[str] | None:
    """The field paths asked for; the query's pattern (FIELD_LIST) already held."""
    if raw is None:
        return None
    names = raw.split(",") if isinstance(raw, str) else raw
    fields = [name for name in names if name]
    unknown = sorted({name.split(".")[0] for name in fields} - set(VIEW_FIELDS))
    if unknown:  # unreachable through the API's patterns; kept for direct callers
        raise ApiError(
            422,
            f"unknown fields {unknown}; available: {', '.join(VIEW_FIELDS)}",
            code="validation_error",
        )
    return fields or None


def select_fields(data: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return data
    selected: dict[str, Any] = {}
    for path in fields:
        head, _, rest = path.partition(".")
        if head not in data:
            continue
        if not rest:
            selected[head] = data[head]
        elif isinstance(data[head], dict):
            inner = select_fields(data[head], [rest])
            existing = selected.get(head)
            selected[head] = {**existing, **inner} if isinstance(existing, dict) else inner
        else:
            selected.setdefault(head, None)
    return selected


def render(data: Any) -> bytes:
    return orjson.dumps(data)


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def none_match(header: str | None, etag: str) -> bool:
    """If-None-Match uses weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in candidates


# A cursor is `<created_at in microseconds since the epoch>-<job id in hex>`: every
# string of this shape is a valid position (so the schema says exactly what is
# accepted), and 16 digits stay within datetime's range.
CURSOR = r"^[0-9]{1,16}-[0-9a-f]{32}$"


def encode_cursor(created_at: datetime, job_id: UUID) -> str:
    micros = (created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{job_id.hex}"


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    if not re.fullmatch(CURSOR, cursor):
        raise ApiError(422, "invalid cursor", code="validation_error")
    micros, _, job_id = cursor.partition("-")
    return EPOCH + timedelta(microseconds=int(micros)), UUID(hex=job_id)
