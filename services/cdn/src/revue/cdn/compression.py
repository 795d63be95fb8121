"""Precompression at ingest (seed 001's ResourceCompressor).

Each text asset is compressed once, at the strongest settings (brotli quality
11, gzip level 9), when a deployment is ingested; requests then only pick a
file. A variant is kept only when it is smaller than what it replaces, and
formats that are already compressed (images, woff2, archives) are skipped.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import brotli

from revue.cdn.policy import is_compressible

MINIMUM_SIZE = 256  # below this, headers outweigh any saving


@dataclass(frozen=True)
class CompressionLevels:
    brotli_quality: int = 11
    gzip_level: int = 9


def compress_variants(
    path: str, data: bytes, levels: CompressionLevels | None = None
) -> dict[str, bytes]:
    """Encoded variants worth keeping: {"br": ..., "gzip": ...}, possibly empty."""
    if len(data) < MINIMUM_SIZE or not is_compressible(path):
        return {}
    levels = levels or CompressionLevels()
    variants = {
        "br": brotli.compress(data, quality=levels.brotli_quality),
        # mtime=0: the same input always gives the same bytes (and the same ETag)
        "gzip": gzip.compress(data, compresslevel=levels.gzip_level, mtime=0),
    }
    return {name: body for name, body in variants.items() if len(body) < len(data)}
