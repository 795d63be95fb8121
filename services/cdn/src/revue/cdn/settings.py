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
    port: int = Field(
        default=8004, ge=1, le=65535, validation_alias=AliasChoices("CDN_PORT", "port")
    )

    # Where deployments live, and the URL pages should use for them
    cdn_store_dir: Path = Path(".revue/cdn")
    cdn_public_url: str = "http://127.0.0.1:8004"
    # Where the CDN serves the assets (`https://cdn.example.com`): the manifest's and
    # `revue-cdn url`'s URLs are absolute under it; unset, they are relative (/assets/...).
    cdn_base_url: str = Field(default="", pattern=r"^(https?://[^/\s?#]+(/[^\s?#]*[^/\s?#])?)?$")
    # nginx front: serve brotli from the precompressed files ("auto": if this machine's
    # nginx has the brotli_static module)
    cdn_nginx_brotli: Literal["auto", "on", "off"] = "auto"
    # Operators and CI deploy and purge with this bearer token; unset, empty or
    # shorter than 32 bytes, the admin API answers 503 (assets are still served).
    cdn_admin_token: SecretStr | None = None

    # Ingest
    cdn_compression_enabled: bool = True
    cdn_brotli_quality: int = Field(default=11, ge=0, le=11)
    cdn_gzip_level: int = Field(default=9, ge=1, le=9)
    cdn_max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    cdn_max_files: int = Field(default=10_000, ge=1)
    cdn_max_total_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    cdn_max_compression_ratio: float = Field(default=200.0, ge=1)
    # Seed 001's table, with any type's policy replaced, e.g.
    # CDN_CACHE_POLICIES='{"image": {"max_age": 86400, "cdn_ttl": 86400, "immutable": false}}'
    cdn_cache_policies: dict[str, CachePolicy] = Field(default_factory=dict)

    # Serving
    cdn_memory_budget_bytes: int = Field(default=128 * 1024 * 1024, ge=0)
    cdn_inline_max_bytes: int = Field(default=1024 * 1024, ge=0)
    cdn_max_ranges: int = Field(default=16, ge=1, le=1000)

    # Invalidation
    cdn_purge_backend: Literal["none", "purge", "fastly", "cloudflare"] = "none"
    cdn_purge_url: str = "http://127.0.0.1:6081"  # Varnish / nginx, or the API base URL
    cdn_purge_token: SecretStr | None = None
    cdn_purge_service_id: str = ""  # Fastly service, or Cloudflare zone
    cdn_purge_rate: float | None = Field(default=None, gt=0)  # calls/s; None: the back end's own
    cdn_purge_burst: int | None = Field(default=None, ge=1)
    cdn_invalidation_window: float = Field(default=1.0, ge=0, le=60)
    cdn_invalidation_retry_interval: float = Field(default=5.0, gt=0, le=3600)

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            compression=self.cdn_compression_enabled,
            levels=CompressionLevels(self.cdn_brotli_quality, self.cdn_gzip_level),
            limits=ArchiveLimits(
                self.cdn_max_files, self.cdn_max_total_bytes, self.cdn_max_compression_ratio
            ),
            base_url=self.cdn_base_url,
        )
