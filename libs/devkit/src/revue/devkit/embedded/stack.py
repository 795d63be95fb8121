"""Resolve the three servers: the configured one when it answers, else our own.

`resolve_infrastructure` reads `NATS_URL`, `REDIS_URL` and `DATABASE_URL`
(with DESIGN.md's local defaults), probes each, and starts an embedded server
for each that does not answer. The result says which is which and stops what
it started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from revue.common.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_NATS_URL,
    DEFAULT_REDIS_URL,
    redacted_url,
)
from revue.devkit.embedded.probes import nats_answers, postgres_answers, redis_answers
from revue.devkit.embedded.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServer,
)

log = structlog.get_logger("revue.embedded")


@dataclass(frozen=True)
class _Kind:
    variable: str
    default: str
    answers: Callable[[str], bool]
    server: type[EmbeddedServer]


KINDS: dict[str, _Kind] = {
    "nats": _Kind("NATS_URL", DEFAULT_NATS_URL, nats_answers, EmbeddedNats),
    "redis": _Kind("REDIS_URL", DEFAULT_REDIS_URL, redis_answers, EmbeddedRedis),
    "postgres": _Kind("DATABASE_URL", DEFAULT_DATABASE_URL, postgres_answers, EmbeddedPostgres),
}


@dataclass
class Infrastructure:
    """Where each server is, and the embedded ones we must stop."""

    urls: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    started: list[EmbeddedServer] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment that points a service at these servers."""
        return {KINDS[name].variable: url for name, url in self.urls.items()}

    def stop(self) -> None:
        for server in reversed(self.started):
            server.stop()
        self.started.clear()


def resolve_infrastructure(
    environ: Mapping[str, str],
    data_root: Path,
    kinds: tuple[str, ...] = ("nats", "redis", "postgres"),
    nats_authorization: str | None = None,
) -> Infrastructure:
    """`nats_authorization`: the users block an embedded NATS starts with (none: open)."""
    infra = Infrastructure()
    try:
        for name in kinds:
            kind = KINDS[name]
            url = environ.get(kind.variable) or kind.default
            if kind.answers(url):
                infra.urls[name], infra.sources[name] = url, "configured"
                log.info("using configured server", server=name, url=_safe(url))
                continue
            log.info("configured server does not answer; starting embedded", server=name)
            server = (
                EmbeddedNats(data_root / name, authorization=nats_authorization)
                if name == "nats"
                else kind.server(data_root / name)
            ).start()
            infra.started.append(server)
            infra.urls[name], infra.sources[name] = server.url, "embedded"
            log.info("embedded server ready", server=name, url=server.url)
    except BaseException:
        infra.stop()
        raise
    return infra


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    return redacted_url(url)
