"""Turn a build directory into a deployment: hash, rewrite, precompress, store, switch.

Files are processed so that every stylesheet is hashed after what it refers
to (its `url(...)` references are rewritten to hashed names first, which
changes its own hash). Compression, the costly part (brotli 11), runs first
and on every core, for every file whose bytes the rewriting cannot change;
a hashed file already in the store (an unchanged file of an earlier
deployment) keeps the variants it has there and is not compressed again.
The new deployment becomes current only once every file and the manifest
are on disk.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.archive import ArchiveLimits, UnsafeArchiveError
from revue.cdn.compression import CompressionLevels, compress_variants
from revue.cdn.manifest import AssetEntry, Manifest, Variant
from revue.cdn.policy import ResourceTypes, content_type
from revue.cdn.versioning import content_hash, hashed_path, rewrite_css

Progress = Callable[[int, int, str], None]  # done, total, path
PARALLEL_FROM_BYTES = 1024 * 1024  # less than this compresses faster than worker processes start


@dataclass(frozen=True)
class IngestOptions:
    compression: bool = True
    levels: CompressionLevels = field(default_factory=CompressionLevels)
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    # CDN_BASE_URL: the manifest's URLs are absolute (seed 001's get_cdn_url); "" relative.
    base_url: str = ""


def list_build(source: Path, limits: ArchiveLimits) -> list[str]:
    """Build-relative POSIX paths of the regular files; links and oddities refused."""
    paths: list[str] = []
    total = 0
    for directory, subdirectories, names in os.walk(source, followlinks=False):
        for name in subdirectories + names:
            full = Path(directory) / name
            if full.is_symlink():
                raise UnsafeArchiveError(f"link in build: {full.relative_to(source)}")
        for name in names:
            full = Path(directory) / name
            if not full.is_file():
                raise UnsafeArchiveError(f"special file in build: {full.relative_to(source)}")
            paths.append(PurePosixPath(full.relative_to(source)).as_posix())
            total += full.stat().st_size
            if len(paths) > limits.max_files:
                raise UnsafeArchiveError(f"more than {limits.max_files} files")
            if total > limits.max_total_bytes:
                raise UnsafeArchiveError(f"more than {limits.max_total_bytes} bytes")
    if not paths:
        raise UnsafeArchiveError("the build is empty")
    return sorted(paths)


class _Build:
    def __init__(
        self,
        source: Path,
        store: AssetStore,
        types: ResourceTypes,
        options: IngestOptions,
        compressed: dict[str, dict[str, bytes]] | None = None,
    ) -> None:
        self.source, self.store, self.types, self.options = source, store, types, options
        self.compressed = compressed or {}  # path -> variants, made ahead on every core
        self.entries: dict[str, AssetEntry] = {}
        self.pending: dict[str, bytes] = {}  # unhashed files, written once the id is known
        self._visiting: set[str] = set()
        self.paths: set[str] = set()

    def process(self, path: str) -> AssetEntry | None:
        if path in self.entries:
            return self.entries[path]
        if path not in self.paths or path in self._visiting:
            return None  # not in the build, or a cycle of stylesheets: left as written
        self._visiting.add(path)
        data = (self.source / path).read_bytes()
        if path.lower().endswith(".css"):
            data = self._rewritten_css(path, data)
        self._visiting.discard(path)
        self.entries[path] = self._store(path, data)
        return self.entries[path]

    def _rewritten_css(self, path: str, data: bytes) -> bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data  # not UTF-8: served as given

        def resolve(target: str) -> str | None:
            entry = self.process(target)
            return (
                entry.path.removeprefix("/assets/") if entry is not None and entry.hashed else None
            )

        return rewrite_css(text, path, resolve, mount="/assets/").encode("utf-8")

    def _store(self, path: str, data: bytes) -> AssetEntry:
        digest = content_hash(data)
        kind = self.types.of(path)
        served = hashed_path(path, digest) if kind.hashed else path
        variants = self.compressed.get(path)
        if variants is None:
            variants = (
                compress_variants(path, data, self.options.levels)
                if self.options.compression
                else {}
            )
        encodings = {"identity": Variant(size=len(data), etag=etag(digest))}
        for name, body in variants.items():
            encodings[name] = Variant(size=len(body), etag=etag(content_hash(body)))
        base = self.options.base_url
        entry = AssetEntry(
            url=f"{base}/assets/{served}",
            versioned_url=f"{base}/assets/{path}?v={digest[:8]}",
            hashed=kind.hashed,
            size=len(data),
            sha256=digest,
            content_type=content_type(path),
            resource_type=kind.name,
            encodings=encodings,
        )
        if kind.hashed:
            # The identity file last: its presence says the variants are all there.
            for name, body in (*variants.items(), ("identity", data)):
                self.store.write(self.store.file_for("", path, entry, name), body, shared=True)
        else:
            self.pending[path] = data
            for name, body in variants.items():
                self.pending[f"{path}\0{name}"] = body
        return entry


def etag(digest: str) -> str:
    return f'"{digest[:32]}"'


def ingest_directory(
    source: Path,
    store: AssetStore,
    types: ResourceTypes,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> tuple[Manifest, list[str]]:
    """Store a build and make it current; returns its manifest and the changed logical paths."""
    options = options or IngestOptions()
    paths = list_build(source, options.limits)
    # Stylesheets last: by then most of what they point at is hashed already.
    ordered = sorted(paths, key=lambda p: (p.lower().endswith(".css"), p))
    total = 2 * len(ordered)  # compressed (or found compressed), then stored

    def compressed(done: int, path: str) -> None:
        if progress is not None:
            progress(done, total, path)

    variants = precompress(source, ordered, store, types, options, compressed)
    build = _Build(source, store, types, options, variants)
    build.paths = set(paths)
    for done, path in enumerate(ordered, len(ordered) + 1):
        build.process(path)
        if progress is not None:
            progress(done, total, path)
    files = {path: build.entries[path] for path in paths}
    fingerprint = hashlib.sha256("".join(f"{p}{e.sha256}" for p, e in files.items()).encode())
    created = datetime.now(UTC)
    deployment = f"{created:%Y%m%dT%H%M%S.%f}-{fingerprint.hexdigest()[:8]}"  # sorts by time
    manifest = Manifest(deployment=deployment, created_at=created.isoformat(), files=files)
    for key, body in build.pending.items():
        path, _, encoding = key.partition("\0")
        store.write(store.file_for(deployment, path, files[path], encoding or "identity"), body)
    previous = store.current()
    store.save_manifest(manifest)
    store.make_current(deployment)
    return manifest, manifest.changed_since(previous)


def precompress(
    source: Path,
    paths: list[str],
    store: AssetStore,
    types: ResourceTypes,
    options: IngestOptions,
    progress: Callable[[int, str], None],
) -> dict[str, dict[str, bytes]]:
    """Variants of every file whose bytes ingest keeps as they are (all but stylesheets),
    compressed on every core; a hashed file already stored keeps its stored variants."""
    found: dict[str, dict[str, bytes]] = {}
    todo: list[tuple[str, bytes]] = []
    for done, path in enumerate(paths, 1):
        if path.lower().endswith(".css") or not options.compression:
            progress(done, path)
            continue
        data = (source / path).read_bytes()
        kind = types.of(path)
        stored = store.object_for(hashed_path(path, content_hash(data))) if kind.hashed else None
        if stored is not None and stored.exists():
            found[path] = store.stored_variants(stored)
            progress(done, path)
        else:
            todo.append((path, data))
    if sum(len(data) for _, data in todo) < PARALLEL_FROM_BYTES:  # not worth a pool's start
        for done, (path, data) in enumerate(todo, len(paths) - len(todo) + 1):
            found[path] = compress_variants(path, data, options.levels)
            progress(done, path)
    elif todo:
        workers = min(os.cpu_count() or 1, len(todo))
        context = multiprocessing.get_context("forkserver")  # safe from a threaded process
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            made = pool.map(
                compress_variants,
                [path for path, _ in todo],
                [data for _, data in todo],
                [options.levels] * len(todo),
                chunksize=max(1, len(todo) // (workers * 8)),
            )
            already = len(paths) - len(todo)
            for done, ((path, _), variants) in enumerate(zip(todo, made, strict=True), 1):
                found[path] = variants
                progress(already + done, path)
    return found
