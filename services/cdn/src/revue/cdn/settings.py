"""Settings of the cdn service: the shared base plus this service's knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from revue.cdn.archive import ArchiveLimits
from revue.cdn.compression import CompressionLevels
from revue.cdn.ingest import IngestOptions
from revue.cdn.policy import CachePolicy
from revue.common.settings import ServiceSettings


class CdnSettings(ServiceSettings):
    otel_service_name: str = "revue-cdn"
    """The service's name in traces and logs."""
    port: int = Field(
        default=8004, ge=1, le=65535, validation_alias=AliasChoices("CDN_PORT", "port")
    )
    """The cdn's HTTP port (`CDN_PORT`): the asset origin (`/assets/`) and its admin API."""

    # --- where deployments live, and the URLs that name them -------------------------
    cdn_store_dir: Path = Path(".revue/cdn")
    """The asset store: content-addressed files, deployments, the current pointer."""
    cdn_public_url: str = "http://127.0.0.1:8004"
    """This origin's URL as the outside reaches it (purge back ends use it)."""
    cdn_base_url: str = Field(default="", pattern=r"^(https?://[^/\s?#]+(/[^\s?#]*[^/\s?#])?)?$")
    """Where the CDN serves the assets (`https://cdn.example.com`): the manifest's and
    `revue-cdn url`'s URLs are absolute under it; empty: relative (`/assets/...`)."""
    cdn_nginx_brotli: Literal["auto", "on", "off"] = "auto"
    """The generated nginx front serves the precompressed brotli files: `auto` when this
    machine's nginx has the brotli_static module."""
    cdn_admin_token: SecretStr | None = None
    """The operators' bearer token for deployments and purges: 32+ bytes. Unset, empty or
    shorter: the admin API answers 503 (assets are still served)."""

    # --- ingest ----------------------------------------------------------------------
    cdn_compression_enabled: bool = True
    """Precompress text assets (brotli 11, gzip 9); false: served as they are."""
    cdn_brotli_quality: int = Field(default=11, ge=0, le=11)
    """Brotli quality of the precompressed files."""
    cdn_gzip_level: int = Field(default=9, ge=1, le=9)
    """Gzip level of the precompressed files."""
    cdn_max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    """An uploaded build archive at most this large."""
    cdn_max_files: int = Field(default=10_000, ge=1)
    """Files (and directories) in one build at most."""
    cdn_max_total_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    """A build's files together at most this large, once extracted."""
    cdn_max_compression_ratio: float = Field(default=200.0, ge=1)
    """An archive expanding more than this is refused (a zip or tar bomb)."""
    cdn_cache_policies: dict[str, CachePolicy] = Field(default_factory=dict)
    """Seed 001's policy of a resource type replaced, as JSON:
    `{"image": {"max_age": 86400, "cdn_ttl": 86400, "immutable": false}}`."""

    # --- serving ---------------------------------------------------------------------
    cdn_memory_budget_bytes: int = Field(default=128 * 1024 * 1024, ge=0)
    """Bytes of small files and their variants the origin keeps in memory."""
    cdn_inline_max_bytes: int = Field(default=1024 * 1024, ge=0)
    """A file up to this size is sent from memory; larger ones stream from disk."""
    cdn_max_ranges: int = Field(default=16, ge=1, le=1000)
    """Byte ranges in one request at most."""

    # --- invalidation ----------------------------------------------------------------
    cdn_purge_backend: Literal["none", "purge", "fastly", "cloudflare"] = "none"
    """Where purges go: `purge` (Varnish or nginx PURGE/BAN), `fastly`, `cloudflare`, or
    `none` (the origin only)."""
    cdn_purge_url: str = "http://127.0.0.1:6081"
    """The purge back end's URL (Varnish or nginx, or the API's base URL)."""
    cdn_purge_token: SecretStr | None = None
    """The purge API's token (Fastly, Cloudflare)."""
    cdn_purge_service_id: str = ""
    """The Fastly service or the Cloudflare zone."""
    cdn_purge_rate: float | None = Field(default=None, gt=0)
    """Purge calls per second; unset: the back end's own published rate."""
    cdn_purge_burst: int | None = Field(default=None, ge=1)
    """Purge calls that may start at once; unset: the back end's own."""
    cdn_invalidation_window: float = Field(default=1.0, ge=0, le=60)
    """Seconds requests are coalesced before a purge goes out."""
    cdn_invalidation_retry_interval: float = Field(default=5.0, gt=0, le=3600)
    """Seconds between tries while the purge back end is down."""

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            compression=self.cdn_compression_enabled,
            levels=CompressionLevels(self.cdn_brotli_quality, self.cdn_gzip_level),
            limits=ArchiveLimits(
                self.cdn_max_files, self.cdn_max_total_bytes, self.cdn_max_compression_ratio
            ),
            base_url=self.cdn_base_url,
        )
