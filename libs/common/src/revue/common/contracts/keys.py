"""Versioned cache keys from content hashes (seed 001's `CacheKeyGenerator`).

A key is `ai:<kind>:v<N>:<content-hash>:<params-hash>`. The params hash
covers every parameter that changes the output — language, rules, limits,
provider, model, analyzer version — so two requests that could get different
answers never share an entry. Bump `KEY_VERSION` when the value's shape
changes: old entries then simply stop being read.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

KEY_VERSION = 1


def _digest(data: bytes, length: int = 32) -> str:
    return hashlib.blake2b(data, digest_size=length // 2).hexdigest()


def params_hash(params: Mapping[str, Any]) -> str:
    """Order-independent hash of the parameters (sorted keys, canonical JSON)."""
    return _digest(orjson.dumps(params, option=orjson.OPT_SORT_KEYS), 16)


@functools.lru_cache(maxsize=1024)
def _analysis_params_hash(
    language: str,
    rules: tuple[str, ...],
    max_issues: int,
    provider: str,
    model: str | None,
    analyzer_version: str,
) -> str:
    """Memoised: a suite sees a handful of parameter sets and hashes them on every request."""
    return params_hash(
        {
            "language": language,
            "rules": list(rules),
            "max_issues": max_issues,
            "provider": provider,
            "model": model,
            "analyzer_version": analyzer_version,
        }
    )


class CacheKeyGenerator:
    @staticmethod
    def generate_analysis_key(
        code: str,
        language: str,
        rules: Iterable[str] = (),
        *,
        max_issues: int = 100,
        provider: str = "builtin",
        model: str | None = None,
        analyzer_version: str = "",
    ) -> str:
        parameters = _analysis_params_hash(
            language, tuple(sorted(set(rules))), max_issues, provider, model, analyzer_version
        )
        return f"ai:analysis:v{KEY_VERSION}:{_digest(code.encode())}:{parameters}"

    @staticmethod
    def generate_key(kind: str, content: str | bytes, params: Mapping[str, Any]) -> str:
        data = content.encode() if isinstance(content, str) else content
        return f"ai:{kind}:v{KEY_VERSION}:{_digest(data)}:{params_hash(params)}"
