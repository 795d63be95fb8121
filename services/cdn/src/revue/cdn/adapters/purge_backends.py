"""Purge back ends, each speaking its own wire format within its own limits.

    purge       HTTP PURGE / BAN (Varnish with xkey, nginx cache purge)
    fastly      Fastly's API: surrogate keys (256 per call), URLs, purge_all, soft purge
    cloudflare  Cloudflare's API: files, tags, prefixes (100 per call), purge_everything

A back end is told what to purge as one `Batch` of a single kind, never more
items than its `batch_size`; the dispatcher paces calls to its `rate`. A 429
or 5xx raises `PurgeUnavailableError` with the server's Retry-After; any other
refusal raises `PurgeRejectedError` (retrying will not help).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import quote

import httpx

from revue.common.contracts.errors import RevueError

Kind = Literal["paths", "patterns", "keys", "everything"]


if TYPE_CHECKING:
    from revue.cdn.settings import CdnSettings


class PurgeUnavailableError(RevueError):
    code = "purge_unavailable"
    retryable = True


class PurgeRejectedError(RevueError):
    code = "purge_rejected"


@dataclass(frozen=True)
class Batch:
    kind: Kind
    items: tuple[str, ...]  # paths start with "/"; empty for "everything"
    soft: bool = False


class PurgeBackend(Protocol):
    name: str
    batch_size: int
    rate: float  # calls per second the service publishes as its limit
    burst: int
    wildcards: bool  # purges patterns itself (others get them expanded to paths)

    async def purge(self, batch: Batch) -> None: ...

    async def aclose(self) -> None: ...


def check(response: httpx.Response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise PurgeUnavailableError(
            f"purge answered {response.status_code}",
            retry_after_s=retry_after(response.headers.get("retry-after")),
        )
    if response.status_code >= 400:
        raise PurgeRejectedError(
            f"purge refused with {response.status_code}: {response.text[:200]}"
        )


def retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class OriginOnly:
    """No CDN in front of the origin (the default): nothing to purge.

    The origin itself always serves the current deployment, so requests are
    recorded and finished at once; set CDN_PURGE_BACKEND to purge a real one.
    """

    name = "none"
    batch_size = 10_000
    rate = 1_000.0
    burst = 1_000
    wildcards = True

    async def purge(self, batch: Batch) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _HttpBackend:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    async def _send(self, method: str, url: str, **kwargs: object) -> None:
        try:
            response = await self.client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            raise PurgeUnavailableError(f"purge back end unreachable: {error!r}") from error
        check(response)

    async def aclose(self) -> None:
        await self.client.aclose()


class HttpPurge(_HttpBackend):
    """Varnish (xkey) or nginx: PURGE per URL, xkey for surrogate keys, BAN for patterns."""

    name = "purge"
    wildcards = True

    def __init__(
        self, base_url: str, *, rate: float = 100.0, burst: int = 100, timeout: float = 5.0
    ) -> None:
        super().__init__(base_url, {}, timeout)
        self.batch_size = 1  # one URL per PURGE; keys ride in one header (below)
        self.rate, self.burst = rate, burst

    async def purge(self, batch: Batch) -> None:
        if batch.kind == "paths":
            for path in batch.items:
                await self._send("PURGE", quote(path))
        elif batch.kind == "keys":
            header = "xkey-softpurge" if batch.soft else "xkey"
            await self._send("PURGE", "/", headers={header: " ".join(batch.items)})
        elif batch.kind == "patterns":
            for pattern in batch.items:
                await self._send("BAN", "/", headers={"X-Ban-Url": glob_to_regex(pattern)})
        else:
            await self._send("BAN", "/", headers={"X-Ban-Url": "."})


class FastlyPurge(_HttpBackend):
    name = "fastly"
    wildcards = False
    batch_size = 256  # surrogate keys per call (Fastly's limit)

    def __init__(
        self,
        base_url: str,
        service_id: str,
        token: str,
        *,
        rate: float = 16.0,
        burst: int = 16,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, {"Fastly-Key": token, "Accept": "application/json"}, timeout)
        self.service_id = service_id
        self.rate, self.burst = rate, burst

    async def purge(self, batch: Batch) -> None:
        soft = {"Fastly-Soft-Purge": "1"} if batch.soft else {}
        service = f"/service/{quote(self.service_id, safe='')}"
        if batch.kind == "keys":
            await self._send(
                "POST", f"{service}/purge", headers={**soft, "Surrogate-Key": " ".join(batch.items)}
            )
        elif batch.kind == "paths":
            for path in batch.items:  # Fastly purges one URL per call
                await self._send("POST", f"/purge{quote(path)}", headers=soft)
        else:
            await self._send("POST", f"{service}/purge_all")


class CloudflarePurge(_HttpBackend):
    name = "cloudflare"
    wildcards = False
    batch_size = 100  # items per call (Cloudflare's limit)

    def __init__(
        self,
        base_url: str,
        zone_id: str,
        token: str,
        public_url: str,
        *,
        rate: float = 50.0,
        burst: int = 50,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, {"Authorization": f"Bearer {token}"}, timeout)
        self.zone_id = zone_id
        self.public_url = public_url.rstrip("/")
        self.rate, self.burst = rate, burst

    async def purge(self, batch: Batch) -> None:
        if batch.kind == "paths":
            body: dict[str, object] = {"files": [self.public_url + path for path in batch.items]}
        elif batch.kind == "keys":
            body = {"tags": list(batch.items)}
        elif batch.kind == "patterns":
            body = {
                "prefixes": [
                    self.public_url.split("://", 1)[-1] + p.rstrip("*") for p in batch.items
                ]
            }
        else:
            body = {"purge_everything": True}
        await self._send(
            "POST", f"/client/v4/zones/{quote(self.zone_id, safe='')}/purge_cache", json=body
        )


def glob_to_regex(pattern: str) -> str:
    """`/assets/app.*.js` -> `^/assets/app\\..*\\.js$` (for BAN)."""
    return "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"


def purge_backend_for(settings: CdnSettings) -> PurgeBackend:
    """The back end `CDN_PURGE_BACKEND` names, paced as configured."""
    token = settings.cdn_purge_token.get_secret_value() if settings.cdn_purge_token else ""
    pacing = {
        key: value
        for key, value in (("rate", settings.cdn_purge_rate), ("burst", settings.cdn_purge_burst))
        if value is not None
    }
    if settings.cdn_purge_backend == "purge":
        return HttpPurge(settings.cdn_purge_url, **pacing)
    if settings.cdn_purge_backend == "fastly":
        return FastlyPurge(settings.cdn_purge_url, settings.cdn_purge_service_id, token, **pacing)
    if settings.cdn_purge_backend == "cloudflare":
        return CloudflarePurge(
            settings.cdn_purge_url,
            settings.cdn_purge_service_id,
            token,
            settings.cdn_public_url,
            **pacing,
        )
    return OriginOnly()
