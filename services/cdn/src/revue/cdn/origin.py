"""The asset origin: a small ASGI app that serves the current deployment.

    GET|HEAD /assets/<hashed path>        immutable, any encoding the client accepts
    GET|HEAD /assets/<path>?v=<hash>      the seed's versioned-URL form
    GET|HEAD /assets/<path>               HTML (and any file by its logical name)
    GET|HEAD /assets/manifest.json        the current manifest

Everything a response needs is computed when a deployment is loaded: the
encodings on disk, their sizes and strong ETags, the header block. A request
then only negotiates, checks validators and ranges, and sends. Small
representations are held in memory within a byte budget; larger ones are
streamed from disk in chunks, never read whole.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs

from prometheus_client import Counter, Gauge
from starlette.types import Receive, Scope, Send

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.manifest import AssetEntry, Manifest
from revue.cdn.negotiation import (
    RangeNotSatisfiable,
    choose_encoding,
    if_range_holds,
    none_match,
    not_modified_since,
    parse_ranges,
)
from revue.cdn.policy import CachePolicy, ResourceTypes
from revue.cdn.versioning import content_hash

PREFIX = "/assets/"
CHUNK = 256 * 1024
REVALIDATE = CachePolicy(0, 3600, False)  # a logical name without (the right) ?v=

responses_total = Counter("cdn_responses_total", "Origin responses", ["status"])
bytes_sent_total = Counter("cdn_bytes_sent_total", "Body bytes sent by the origin", ["encoding"])
cache_hit_ratio = Gauge(
    "cdn_cache_hit_ratio",
    "Share of origin requests answered without reading the disk (304s and in-memory bodies)",
)

Headers = list[tuple[bytes, bytes]]


@dataclass
class Representation:
    encoding: str
    path: Path
    size: int
    etag: str
    body: bytes | None = None  # held in memory when small enough


@dataclass
class Served:
    content_type: str
    last_modified: datetime
    headers: Headers  # the block every response for it carries (200, 206, 304)
    representations: dict[str, Representation]
    available: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.available = tuple(self.representations)

    @staticmethod
    def builder(
        content_type: str,
        modified: datetime,
        keys: list[str],
        representations: dict[str, Representation],
    ) -> Callable[[CachePolicy], Served]:
        """One asset under different cache policies (its hashed URL, its logical name)."""
        negotiated = len(representations) > 1

        def build(policy: CachePolicy) -> Served:
            block = header_block(content_type, policy, modified, keys, negotiated)
            return Served(content_type, modified, block, representations)

        return build


class Index:
    """What a deployment serves, ready to answer from."""

    def __init__(
        self,
        store: AssetStore,
        manifest: Manifest,
        types: ResourceTypes,
        memory_budget: int,
        inline_max: int,
        previous: Sequence[Manifest] = (),
    ) -> None:
        self.deployment = manifest.deployment
        self.by_url: dict[str, Served] = {}
        self.by_version: dict[str, tuple[str, Served]] = {}  # logical -> (v, immutable view)
        budget = memory_budget
        for number, source in enumerate((manifest, *previous)):
            # Earlier deployments' hashed files stay servable: a page loaded
            # before the switch still asks for them.
            files = (
                source.files if number == 0 else {p: e for p, e in source.files.items() if e.hashed}
            )
            budget = self._add(store, source, files, types, budget, inline_max, current=number == 0)
        self._add_manifest(store, manifest)

    def _add(
        self,
        store: AssetStore,
        manifest: Manifest,
        files: dict[str, AssetEntry],
        types: ResourceTypes,
        budget: int,
        inline_max: int,
        *,
        current: bool,
    ) -> int:
        modified = datetime.fromisoformat(manifest.created_at).replace(microsecond=0)
        for path, entry in files.items():
            if not current and entry.path.removeprefix(PREFIX) in self.by_url:
                continue
            representations = {}
            for encoding in ("br", "gzip", "identity"):
                variant = entry.encodings.get(encoding)
                if variant is None:
                    continue
                file = store.file_for(manifest.deployment, path, entry, encoding)
                body = None
                if variant.size <= inline_max and variant.size <= budget:
                    body = file.read_bytes()
                    budget -= len(body)
                representations[encoding] = Representation(
                    encoding, file, variant.size, variant.etag, body
                )
            policy = types.by_name(entry.resource_type).policy
            keys = [f"deploy-{manifest.deployment}", f"asset-{entry.sha256[:16]}", f"path-{path}"]
            view = Served.builder(entry.content_type, modified, keys, representations)
            self.by_url[entry.path.removeprefix(PREFIX)] = view(policy)
            if entry.hashed and current:
                self.by_url.setdefault(path, view(REVALIDATE))
                self.by_version[path] = (entry.sha256[:8], view(policy))
        return budget

    def _add_manifest(self, store: AssetStore, manifest: Manifest) -> None:
        modified = datetime.fromisoformat(manifest.created_at).replace(microsecond=0)
        manifest_body = manifest.model_dump_json().encode()
        self.manifest = Served(
            "application/json",
            modified,
            header_block(
                "application/json",
                REVALIDATE,
                modified,
                [f"deploy-{manifest.deployment}", "manifest"],
                False,
            ),
            {
                "identity": Representation(
                    "identity",
                    store.manifest_path(manifest.deployment),
                    len(manifest_body),
                    f'"{content_hash(manifest_body)[:32]}"',
                    manifest_body,
                )
            },
        )

    def lookup(self, path: str, query: bytes) -> Served | None:
        if path == "manifest.json":
            return self.manifest
        if query:
            version = parse_qs(query.decode("latin-1")).get("v", [""])[0]
            known = self.by_version.get(path)
            if known is not None and version and known[0] == version:
                return known[1]
        return self.by_url.get(path)


def header_block(
    content_type: str, policy: CachePolicy, modified: datetime, keys: list[str], negotiated: bool
) -> Headers:
    headers = [
        (b"content-type", content_type.encode()),
        (b"cache-control", policy.cache_control().encode()),
        (b"cdn-cache-control", policy.cdn_cache_control().encode()),
        (b"last-modified", format_datetime(modified, usegmt=True).encode()),
        (b"accept-ranges", b"bytes"),
        (b"surrogate-key", " ".join(keys).encode("utf-8", "replace")),
        (b"cache-tag", ",".join(keys).encode("utf-8", "replace")),
        (b"x-content-type-options", b"nosniff"),
    ]
    if negotiated:
        headers.append((b"vary", b"Accept-Encoding"))
    return headers


class Origin:
    def __init__(
        self,
        store: AssetStore,
        types: ResourceTypes,
        *,
        compression: bool = True,
        memory_budget: int = 128 * 1024 * 1024,
        inline_max: int = 1024 * 1024,
        max_ranges: int = 16,
        reload_interval: float = 1.0,
        keep_previous: int = 3,
    ) -> None:
        self.keep_previous = keep_previous
        self.store = store
        self.types = types
        self.compression = compression
        self.memory_budget = memory_budget
        self.inline_max = inline_max
        self.max_ranges = max_ranges
        self.reload_interval = reload_interval
        self.index: Index | None = None
        self.deployed_paths: list[str] = []
        self._checked = 0.0
        self._answered = 0
        self._from_memory = 0

    def reload(self) -> None:
        """Load the current deployment (after an ingest, or one another process made)."""
        manifest = self.store.current()
        if manifest is None:
            self.index = None
        elif self.index is None or self.index.deployment != manifest.deployment:
            previous = self.store.previous(manifest, self.keep_previous)
            self.index = Index(
                self.store, manifest, self.types, self.memory_budget, self.inline_max, previous
            )
            # What an invalidation pattern may name: every URL of these deployments.
            self.deployed_paths = sorted(
                {
                    url
                    for source in (manifest, *previous)
                    for path, entry in source.files.items()
                    for url in (PREFIX + path, entry.path)
                }
            )
        self._checked = time.monotonic()

    def _fresh_index(self) -> Index | None:
        if time.monotonic() - self._checked > self.reload_interval:
            current = self.store.current_id()
            if current != (self.index.deployment if self.index else None):
                self.reload()
            self._checked = time.monotonic()
        return self.index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await self._plain(send, 405, b"method not allowed", [(b"allow", b"GET, HEAD")])
            return
        index = self._fresh_index()
        path = scope["path"].removeprefix(PREFIX)
        served = index.lookup(path, scope.get("query_string", b"")) if index else None
        if served is None:
            await self._plain(send, 404, b"not found")
            return
        headers = {name: value for name, value in scope["headers"] if name in WANTED}
        await self._answer(served, headers, method == "HEAD", send)

    async def _answer(
        self, served: Served, request: dict[bytes, bytes], head: bool, send: Send
    ) -> None:
        available = served.available if self.compression else ("identity",)
        accept = request.get(b"accept-encoding")
        encoding = choose_encoding(
            accept.decode("latin-1") if accept is not None else None, available
        )
        if encoding is None:
            await self._plain(send, 406, b"no acceptable content coding", served.headers)
            return
        chosen = served.representations[encoding]
        headers = [*served.headers, (b"etag", chosen.etag.encode())]
        if encoding != "identity":
            headers.append((b"content-encoding", encoding.encode()))
        if self._not_modified(request, chosen.etag, served.last_modified):
            self._count(304, memory=True)
            # RFC 9110 15.4.5: the validator and caching fields a 200 would carry,
            # and no other representation metadata.
            kept = [(name, value) for name, value in headers if name not in NOT_ON_304]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        ranges = None
        if not head and b"range" in request:
            if_range = request.get(b"if-range")
            if if_range is None or if_range_holds(
                if_range.decode("latin-1"), chosen.etag, served.last_modified
            ):
                try:
                    ranges = parse_ranges(
                        request[b"range"].decode("latin-1"), chosen.size, self.max_ranges
                    )
                except RangeNotSatisfiable:
                    await self._plain(
                        send,
                        416,
                        b"range not satisfiable",
                        [*headers, (b"content-range", f"bytes */{chosen.size}".encode())],
                    )
                    return
        if ranges is None:
            await self._send_whole(chosen, headers, head, send)
        elif len(ranges) == 1:
            await self._send_range(chosen, headers, ranges[0], send)
        else:
            await self._send_multipart(chosen, served.content_type, headers, ranges, send)

    def _not_modified(self, request: dict[bytes, bytes], etag: str, modified: datetime) -> bool:
        if b"if-none-match" in request:
            return none_match(request[b"if-none-match"].decode("latin-1"), etag)
        since = request.get(b"if-modified-since")
        return since is not None and not_modified_since(since.decode("latin-1"), modified)

    async def _send_whole(
        self, chosen: Representation, headers: Headers, head: bool, send: Send
    ) -> None:
        headers = [*headers, (b"content-length", str(chosen.size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self._count(200, memory=chosen.body is not None or head)
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        bytes_sent_total.labels(chosen.encoding).inc(chosen.size)
        if chosen.body is not None:
            await send({"type": "http.response.body", "body": chosen.body})
            return
        await self._stream(chosen, 0, chosen.size, send, last=True)

    async def _send_range(
        self, chosen: Representation, headers: Headers, span: tuple[int, int], send: Send
    ) -> None:
        start, end = span
        length = end - start + 1
        headers = [
            *headers,
            (b"content-range", f"bytes {start}-{end}/{chosen.size}".encode()),
            (b"content-length", str(length).encode()),
        ]
        await send({"type": "http.response.start", "status": 206, "headers": headers})
        self._count(206, memory=chosen.body is not None)
        bytes_sent_total.labels(chosen.encoding).inc(length)
        if chosen.body is not None:
            await send({"type": "http.response.body", "body": chosen.body[start : end + 1]})
        else:
            await self._stream(chosen, start, length, send, last=True)

    async def _send_multipart(
        self,
        chosen: Representation,
        content_type: str,
        headers: Headers,
        ranges: list[tuple[int, int]],
        send: Send,
    ) -> None:
        boundary = secrets.token_hex(16)
        heads = [
            (
                f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: bytes {start}-{end}/{chosen.size}\r\n\r\n"
            ).encode()
            for start, end in ranges
        ]
        tail = f"--{boundary}--\r\n".encode()
        total = sum(
            len(h) + (e - s + 1) + 2 for h, (s, e) in zip(heads, ranges, strict=True)
        ) + len(tail)
        kept = [(n, v) for n, v in headers if n != b"content-type"]
        kept += [
            (b"content-type", f"multipart/byteranges; boundary={boundary}".encode()),
            (b"content-length", str(total).encode()),
        ]
        await send({"type": "http.response.start", "status": 206, "headers": kept})
        self._count(206, memory=chosen.body is not None)
        for head, (start, end) in zip(heads, ranges, strict=True):
            await send({"type": "http.response.body", "body": head, "more_body": True})
            if chosen.body is not None:
                await send(
                    {
                        "type": "http.response.body",
                        "body": chosen.body[start : end + 1],
                        "more_body": True,
                    }
                )
            else:
                await self._stream(chosen, start, end - start + 1, send, last=False)
            await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
        bytes_sent_total.labels(chosen.encoding).inc(total)
        await send({"type": "http.response.body", "body": tail})

    async def _stream(
        self, chosen: Representation, start: int, length: int, send: Send, *, last: bool
    ) -> None:
        descriptor = await asyncio.to_thread(os.open, chosen.path, os.O_RDONLY)
        try:
            position, remaining = start, length
            while remaining > 0:
                chunk = await asyncio.to_thread(
                    os.pread, descriptor, min(CHUNK, remaining), position
                )
                if not chunk:
                    raise OSError(f"{chosen.path} is shorter than its manifest says")
                position += len(chunk)
                remaining -= len(chunk)
                await send(
                    {
                        "type": "http.response.body",
                        "body": chunk,
                        "more_body": remaining > 0 or not last,
                    }
                )
        finally:
            os.close(descriptor)

    async def _plain(
        self, send: Send, status: int, body: bytes, headers: Headers | None = None
    ) -> None:
        kept = [(n, v) for n, v in headers or [] if n not in (b"content-type", b"content-length")]
        self._count(status, memory=True)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *kept,
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _count(self, status: int, *, memory: bool) -> None:
        responses_total.labels(str(status)).inc()
        self._answered += 1
        self._from_memory += memory
        cache_hit_ratio.set(self._from_memory / self._answered)


NOT_ON_304 = frozenset(
    {b"content-type", b"content-encoding", b"content-length", b"last-modified", b"accept-ranges"}
)
WANTED = frozenset(
    {b"accept-encoding", b"if-none-match", b"if-modified-since", b"range", b"if-range"}
)
