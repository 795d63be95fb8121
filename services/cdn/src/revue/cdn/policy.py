"""Cache policy per resource type (seed 001's RESOURCE_TYPES table).

Hashed assets never change under their name, so browsers and CDNs may keep
them a year without asking again (`immutable`). HTML names stay the same
across deployments: browsers must revalidate every time, while the CDN keeps
it an hour (`s-maxage`, and `CDN-Cache-Control` for CDNs that read it, RFC
9213) and is purged when a deployment changes it.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

YEAR = 365 * 24 * 3600
DAY = 24 * 3600


@dataclass(frozen=True)
class CachePolicy:
    max_age: int
    cdn_ttl: int
    immutable: bool

    def cache_control(self) -> str:
        if self.max_age == 0:
            return f"public, max-age=0, must-revalidate, s-maxage={self.cdn_ttl}"
        value = f"public, max-age={self.max_age}"
        return value + ", immutable" if self.immutable else value

    def cdn_cache_control(self) -> str:
        return f"max-age={self.cdn_ttl}"


@dataclass(frozen=True)
class ResourceType:
    name: str
    extensions: tuple[str, ...]
    policy: CachePolicy
    hashed: bool  # served under a content-hashed name


RESOURCE_TYPES: dict[str, ResourceType] = {
    rt.name: rt
    for rt in (
        ResourceType("javascript", (".js", ".mjs", ".map"), CachePolicy(YEAR, YEAR, True), True),
        ResourceType("css", (".css",), CachePolicy(YEAR, YEAR, True), True),
        ResourceType(
            "image",
            (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".ico", ".svg"),
            CachePolicy(30 * DAY, 30 * DAY, False),
            True,
        ),
        ResourceType(
            "font", (".woff", ".woff2", ".ttf", ".otf", ".eot"), CachePolicy(YEAR, YEAR, True), True
        ),
        # HTML keeps its name: links and bookmarks point at it.
        ResourceType("html", (".html", ".htm"), CachePolicy(0, 3600, False), False),
    )
}
OTHER = ResourceType("other", (), CachePolicy(DAY, DAY, False), True)
# Formats that are already compressed gain nothing from brotli or gzip.
TEXT_SUFFIXES = frozenset(
    {
        ".js",
        ".mjs",
        ".map",
        ".css",
        ".html",
        ".htm",
        ".svg",
        ".json",
        ".txt",
        ".xml",
        ".ttf",
        ".otf",
        ".eot",
        ".ico",
        ".wasm",
    }
)


def is_compressible(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in TEXT_SUFFIXES


def content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


class ResourceTypes:
    """The table, with any type's policy replaced from settings."""

    def __init__(self, overrides: dict[str, CachePolicy] | None = None) -> None:
        overrides = overrides or {}
        unknown = sorted(set(overrides) - set(RESOURCE_TYPES) - {OTHER.name})
        if unknown:
            raise ValueError(f"unknown resource types {unknown}; known: {sorted(RESOURCE_TYPES)}")
        self.types = {
            name: replace(rt, policy=overrides.get(name, rt.policy))
            for name, rt in RESOURCE_TYPES.items()
        }
        self.other = replace(OTHER, policy=overrides.get(OTHER.name, OTHER.policy))
        self._by_suffix = {ext: rt for rt in self.types.values() for ext in rt.extensions}

    def of(self, path: str) -> ResourceType:
        return self._by_suffix.get(PurePosixPath(path).suffix.lower(), self.other)

    def by_name(self, name: str) -> ResourceType:
        return self.types.get(name, self.other)
