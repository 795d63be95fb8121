"""Content-hash versioning (seed 001's ResourceVersioner).

A file's name carries the hash of its bytes (`app.3f2a9c1e.js`), so a new
build gets new names and caches can keep the old ones forever. The seed's
`?v=<hash>` URL form is offered too, for pages that cannot change the names
they link to. References inside CSS (`url(...)`, `@import "..."`) are
rewritten to the hashed names, so a stylesheet never points at a stale image.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable
from pathlib import PurePosixPath

HASH_LENGTH = 12  # 48 bits: collisions within one build are not a practical concern

CSS_REFERENCE = re.compile(
    r"""url\(\s*(?P<q1>['"]?)(?P<url1>[^'")\s]+)(?P=q1)\s*\)"""
    r"""|@import\s+(?P<q2>['"])(?P<url2>[^'"]+)(?P=q2)"""
)
EXTERNAL = ("data:", "http:", "https:", "//", "#", "about:", "blob:")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hashed_path(path: str, digest: str) -> str:
    """`css/site.css` -> `css/site.<hash>.css` (the hash before the last suffix)."""
    pure = PurePosixPath(path)
    suffix = pure.suffix
    stem = pure.name[: -len(suffix)] if suffix else pure.name
    name = f"{stem}.{digest[:HASH_LENGTH]}{suffix}"
    return str(pure.with_name(name))


def versioned_url(base_url: str, path: str, digest: str) -> str:
    """The seed's form: `https://cdn.example.com/static/js/app.js?v=a1b2c3d4`."""
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}?v={digest[:8]}"


def rewrite_css(
    css: str, css_path: str, resolve: Callable[[str], str | None], mount: str = "/"
) -> str:
    """Point every local reference in a stylesheet at its hashed name.

    `resolve` maps a build-relative path to its hashed path (None: not in the
    build, left untouched). Queries and fragments on a reference are kept.
    """
    directory = posixpath.dirname(css_path)

    def replace(match: re.Match[str]) -> str:
        url = match.group("url1") or match.group("url2")
        if url.lower().startswith(EXTERNAL):
            return match.group(0)
        target, tail = split_tail(url)
        logical = posixpath.normpath(
            target.lstrip("/") if target.startswith("/") else posixpath.join(directory, target)
        )
        hashed = resolve(logical)
        if hashed is None:
            return match.group(0)
        relative = posixpath.relpath(hashed, directory or ".")
        new = (mount + hashed if target.startswith("/") else relative) + tail
        return match.group(0).replace(url, new, 1)

    return CSS_REFERENCE.sub(replace, css)


def split_tail(url: str) -> tuple[str, str]:
    """`a.png?x#y` -> (`a.png`, `?x#y`)."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return url[:cut], url[cut:]
