"""The manifest of a deployment: logical path -> hashed URL, size, hash, type, encodings.

It is what pages and build tools read (`/assets/manifest.json`, and the
gateway's `GET /api/v1/cdn/manifest`), and what the origin serves from.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

Encoding = Literal["identity", "br", "gzip"]


class Variant(BaseModel):
    size: int = Field(ge=0)
    etag: str  # strong, per encoding: a hash of exactly these bytes


class AssetEntry(BaseModel):
    # What to link to: /assets/<hashed path> (HTML keeps its name), absolute
    # (CDN_BASE_URL + path) when the deployment was made with a base URL.
    url: str
    versioned_url: str  # the seed's form: /assets/<path>?v=<hash>
    hashed: bool
    size: int = Field(ge=0)
    sha256: str
    content_type: str
    resource_type: str
    encodings: dict[Encoding, Variant]

    @property
    def path(self) -> str:
        """The URL's path (`/assets/...`), whatever its host: what the origin routes on."""
        return urlsplit(self.url).path


class Manifest(BaseModel):
    deployment: str
    created_at: str
    files: dict[str, AssetEntry]

    def changed_since(self, previous: Manifest | None) -> list[str]:
        """Logical paths added, removed or changed: what caches may hold stale."""
        if previous is None:
            return sorted(self.files)
        before = {path: entry.sha256 for path, entry in previous.files.items()}
        after = {path: entry.sha256 for path, entry in self.files.items()}
        return sorted(
            path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
        )
