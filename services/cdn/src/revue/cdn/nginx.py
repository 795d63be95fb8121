"""nginx configuration for the current deployment (seed 001's generated config).

nginx serves the content-hashed files straight from the store (`gzip_static`
picks the precompressed `.gz`), with each file's cache policy from the
manifest; everything that keeps its name (HTML, the manifest, logical names)
goes to the origin through nginx's own cache, so `CDN-Cache-Control` and
purges apply. Regenerate after each deployment (`revue-cdn nginx`, or
`GET /api/v1/cdn/nginx.conf`); `nginx -t` accepts the result.
"""

from __future__ import annotations

import re
from pathlib import Path

from revue.cdn.manifest import Manifest
from revue.cdn.policy import ResourceTypes

# Paths come from uploaded builds: only names made of these characters are
# written into the configuration (others are served with the default policy).
SAFE = re.compile(r"^[A-Za-z0-9._~/@+-]+$")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9 ,=._~/@+-]+$")  # header values such as Cache-Control


def quoted(value: str, allowed: re.Pattern[str] = SAFE) -> str:
    if not allowed.match(value):
        raise ValueError(f"unsafe for an nginx configuration: {value!r}")
    return f'"{value}"'


def nginx_config(
    manifest: Manifest,
    store_root: Path,
    types: ResourceTypes,
    *,
    origin: str = "127.0.0.1:8004",
    listen: int = 8080,
    server_name: str = "_",
    cache_dir: Path = Path("/var/cache/nginx/revue"),
) -> str:
    policies = []
    skipped = 0
    for entry in sorted(manifest.files.values(), key=lambda e: e.url):
        if entry.hashed and not SAFE.match(entry.url):
            skipped += 1
        elif entry.hashed:
            policy = types.by_name(entry.resource_type).policy
            policies.append(
                f"    {quoted(entry.url)} {quoted(policy.cache_control(), SAFE_VALUE)};"
            )
    objects = store_root.resolve() / "objects"
    return "\n".join(
        [
            f"# Revue CDN, deployment {manifest.deployment} ({len(manifest.files)} files,"
            f" {skipped} with names unsafe here left to the default policy)",
            "map $uri $revue_cache_control {",
            '    default "public, max-age=86400";',
            *policies,
            "}",
            f"proxy_cache_path {quoted(str(cache_dir))} levels=1:2 keys_zone=revue_assets:10m"
            " max_size=1g inactive=7d;",
            "map $http_accept_encoding $revue_encoding {",
            "    default identity;",
            "    ~*gzip gzip;",
            "    ~*br br;",
            "}",
            "",
            "server {",
            f"    listen {int(listen)};",
            f"    server_name {server_name};",
            "",
            "    # Content-hashed files: immutable, served from the store.",
            '    location ~ "^/assets/.+\\.[0-9a-f]{12}\\.[A-Za-z0-9]+$" {',
            f"        root {quoted(str(objects.parent))};",
            "        rewrite ^/assets/(.*)$ /objects/$1 break;",
            "        gzip_static on;",
            "        add_header Cache-Control $revue_cache_control always;",
            '        add_header Vary "Accept-Encoding" always;',
            '        add_header X-Content-Type-Options "nosniff" always;',
            "        try_files $uri =404;",
            "    }",
            "",
            "    # Names that stay (HTML, manifest, ?v= URLs): the origin, through nginx's cache.",
            "    location ^~ /assets/ {",
            f"        proxy_pass http://{origin};",
            "        proxy_cache revue_assets;",
            "        proxy_cache_key $scheme$host$request_uri$revue_encoding;",
            "        proxy_cache_revalidate on;",
            "        proxy_cache_use_stale error timeout updating http_500 http_502 http_503;",
            "        proxy_set_header Host $host;",
            "        add_header X-Cache-Status $upstream_cache_status always;",
            "    }",
            "}",
            "",
        ]
    )
