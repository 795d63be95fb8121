"""What clients read: the analysis view, field selection, ETags and cursors.

Field selection follows seed 002's FieldSelector: `fields=id,status,result.findings`
keeps only those paths (dotted paths reach into objects). ETags are strong:
a hash of the exact bytes sent, so they change with the selection too.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel

from revue.common.events import AnalysisResult, ErrorInfo
from revue.gateway.errors import ApiError

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
    if raw is None:
        return None
    names = raw.split(",") if isinstance(raw, str) else raw
    fields = [name.strip() for name in names if name.strip()]
    unknown = sorted({name.split(".")[0] for name in fields} - set(VIEW_FIELDS))
    if unknown:
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


def encode_cursor(created_at: datetime, job_id: UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(job_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, job_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), UUID(job_id)
    except (ValueError, TypeError) as error:
        raise ApiError(422, "invalid cursor", code="validation_error") from error
