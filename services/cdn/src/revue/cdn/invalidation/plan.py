"""From pending requests to the fewest back-end calls.

Requests that arrive within the coalescing window are planned together: the
same path, pattern or key asked for twice is purged once, an "everything"
makes every other item redundant, soft and hard purges stay apart, and each
kind is split into the back end's batch size. Patterns go to back ends that
purge wildcards themselves; for the others they are expanded against the
paths the origin knows.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from revue.cdn.adapters.purge_backends import Batch, Kind


def plan(
    requests: Iterable[dict[str, Any]],
    batch_size: int,
    *,
    wildcards: bool,
    known_paths: Iterable[str] = (),
) -> list[Batch]:
    batches: list[Batch] = []
    requests = list(requests)
    for soft in (False, True):
        group = [r for r in requests if bool(r["soft"]) is soft]
        if not group:
            continue
        if any(r["everything"] for r in group):
            batches.append(Batch("everything", (), soft))
            continue
        paths = unique(p for r in group for p in r["paths"])
        patterns = unique(p for r in group for p in r["patterns"])
        keys = unique(k for r in group for k in r["surrogate_keys"])
        if patterns and not wildcards:
            known = list(known_paths)
            expanded = [
                path for path in known if any(fnmatch.fnmatchcase(path, p) for p in patterns)
            ]
            paths, patterns = unique([*paths, *expanded]), []
        for kind, items in (("paths", paths), ("patterns", patterns), ("keys", keys)):
            batches.extend(split(kind, items, batch_size, soft))  # type: ignore[arg-type]
    return batches


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def split(kind: Kind, items: list[str], size: int, soft: bool) -> list[Batch]:
    return [Batch(kind, tuple(items[i : i + size]), soft) for i in range(0, len(items), size)]
