"""The HTTP rules the origin follows (RFC 9110): content codings, validators, ranges.

Pure functions over header values, so each rule is tested on its own.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

PREFERENCE = ("br", "gzip", "identity")  # among equally acceptable codings
IDENTITY_FALLBACK = 0.0001


def choose_encoding(accept_encoding: str | None, available: tuple[str, ...]) -> str | None:
    """The coding to send (RFC 9110 12.5.3), or None when none is acceptable.

    The highest q-value wins; ties go to the smaller coding (br, then gzip).
    `*` covers codings not named; identity, when not named, is acceptable but
    the last choice (RFC 9110 gives it no weight, only acceptability).
    """
    if accept_encoding is None:
        return "identity" if "identity" in available else None
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        weights[coding.lower()] = q
    star = weights.get("*")

    def weight(coding: str) -> float:
        if coding in weights:
            return weights[coding]
        if coding == "x-gzip" or (coding == "gzip" and "x-gzip" in weights):
            return weights.get("x-gzip", 0.0)
        if star is not None:
            return star
        return IDENTITY_FALLBACK if coding == "identity" else 0.0

    ranked = [(weight(c), -PREFERENCE.index(c), c) for c in available if weight(c) > 0]
    return max(ranked)[2] if ranked else None


def opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def none_match(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    return any(opaque(tag) == etag for tag in header.split(","))


def http_date(header: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def not_modified_since(header: str, last_modified: datetime) -> bool:
    since = http_date(header)
    return since is not None and last_modified.replace(microsecond=0) <= since


def if_range_holds(header: str, etag: str, last_modified: datetime) -> bool:
    """If-Range: a strong ETag match, or exactly the Last-Modified date (RFC 9110 13.1.5)."""
    value = header.strip()
    if value.startswith(('"', "W/")):
        return not value.startswith("W/") and value == etag
    date = http_date(value)
    return date is not None and date == last_modified.replace(microsecond=0)


class RangeNotSatisfiable(Exception):
    """Answer 416 with `Content-Range: bytes */<length>`."""


def parse_ranges(header: str, length: int, max_ranges: int) -> list[tuple[int, int]] | None:
    """Inclusive byte ranges to send; None when the header is to be ignored (not bytes,
    malformed). Raises RangeNotSatisfiable when no range overlaps the representation or
    there are more than `max_ranges` (RFC 9110 14.2 lets a server reject many ranges)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if len(parts) > max_ranges:
        raise RangeNotSatisfiable(f"more than {max_ranges} ranges")
    ranges: list[tuple[int, int]] = []
    for part in parts:
        first, dash, last = part.partition("-")
        if not dash:
            return None
        try:
            if not first:  # suffix: the last N bytes
                suffix = int(last)
                if suffix < 0 or not last.isdigit():
                    return None
                if suffix == 0 or length == 0:
                    continue
                ranges.append((max(0, length - suffix), length - 1))
                continue
            if not first.isdigit() or (last and not last.isdigit()):
                return None
            start = int(first)
            end = int(last) if last else length - 1
        except ValueError:
            return None
        if start >= length:
            continue  # unsatisfiable on its own; others may still be
        if end < start:
            return None
        ranges.append((start, min(end, length - 1)))
    if not ranges:
        raise RangeNotSatisfiable("no range overlaps the representation")
    return merged(ranges)


def merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching ranges as one (RFC 9110 14.2 allows it), in order.

    Without this, `bytes=0-,0-,0-...` asks for the whole file once per range:
    a request that multiplies the bytes sent by the range limit.
    """
    result: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if result and start <= result[-1][1] + 1:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return result
