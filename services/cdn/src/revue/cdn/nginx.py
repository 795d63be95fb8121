"""nginx configuration for the current deployment (seed 001's generated config).

nginx serves the content-hashed files straight from the store, with the
headers the origin would send: the type's `Cache-Control` and
`CDN-Cache-Control` (a map over file extensions, a few entries whatever the
deployment's size), the origin's strong `ETag` of the encoding actually sent
and `Vary` where there are variants (maps over the files, whose hash sizes
are computed from their entries, so 10,000 files load as well as ten), the
manifest's `Content-Type`, and the precompressed variant the client accepts:
brotli where nginx has the brotli_static module, else gzip. Everything that
must stay dynamic (HTML, the manifest, logical names, `?v=` URLs) goes to the
origin through nginx's own cache, keyed by the encoding the client accepts.

The file is meant for nginx's `http` context (Debian: `conf.d/revue-cdn.conf`;
the brotli module is loaded by `modules-enabled/`). Regenerate after each
deployment (`revue-cdn nginx`, or `GET /api/v1/cdn/nginx.conf`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path, PurePosixPath

from revue.cdn.manifest import Manifest
from revue.cdn.origin import PREFIX
from revue.cdn.policy import ResourceTypes

# Paths come from uploaded builds: only names made of these characters are
# written into the configuration (others are left to the origin's policy).
SAFE = re.compile(r"^[A-Za-z0-9._~/@+:-]+$")
SAFE_VALUE = re.compile(r'^[A-Za-z0-9 ,=._~/@+;"-]+$')  # header values, ETags included
# The extension is captured: the policy maps then look it up in a hash, not by regex.
HASHED_LOCATION = r"^/assets/.+\.[0-9a-f]{12}\.(?<revue_ext>[A-Za-z0-9]+)$"
MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/etc/nginx/modules")
BROTLI_MODULE = "ngx_http_brotli_static_module.so"
OBJECTS = "/objects/"
SUFFIX_OF = {"identity": "", "gzip": "gzip", "br": "br"}  # $sent_http_content_encoding


def brotli_module() -> Path | None:
    """Where this machine's nginx keeps the brotli_static module, if it has one."""
    for folder in MODULE_DIRS:
        candidate = Path(folder) / BROTLI_MODULE
        if candidate.exists():
            return candidate
    return None


def brotli_choice(setting: str) -> bool | None:
    """CDN_NGINX_BROTLI: forced on or off, else None (ask this machine's nginx)."""
    return {"on": True, "off": False}.get(setting)


def quoted(value: str, allowed: re.Pattern[str] = SAFE) -> str:
    if not allowed.match(value):
        raise ValueError(f"unsafe for an nginx configuration: {value!r}")
    return '"' + value.replace('"', '\\"') + '"'


def hash_sizes(keys: list[str]) -> tuple[int, int]:
    """`map_hash_max_size` and `map_hash_bucket_size` that hold these keys.

    nginx looks for a table size up to the max in which no bucket holds more
    than `bucket_size` bytes of keys (each key plus a pointer and its length,
    aligned); its defaults (2048 / 64 on most machines) fail `nginx -t` a few
    hundred long paths in. Room for two of the longest keys a bucket and four
    slots a key let it find one at once.
    """
    longest = max((len(key) for key in keys), default=0) + 16
    bucket = 128
    while bucket < 2 * longest:
        bucket *= 2
    size = 2048
    while size < 4 * len(keys):
        size *= 2
    return size, bucket


def nginx_config(
    manifest: Manifest,
    store_root: Path,
    types: ResourceTypes,
    *,
    origin: str = "127.0.0.1:8004",
    listen: int = 8080,
    server_name: str = "_",
    cache_dir: Path = Path("/var/cache/nginx/revue"),
    brotli: bool | None = None,
) -> str:
    """`brotli`: whether nginx has brotli_static (None: whether this machine's has)."""
    if brotli is None:
        brotli = brotli_module() is not None
    etags: list[tuple[str, str]] = []
    vary: list[str] = []
    mime: dict[str, set[str]] = defaultdict(set)
    skipped = 0
    for entry in sorted(manifest.files.values(), key=lambda e: e.url):
        url = entry.path
        if not entry.hashed:
            continue
        if not SAFE.match(url):
            skipped += 1
            continue
        # The maps are read once the rewrite below has made $uri the store's path.
        stored = OBJECTS + url.removeprefix(PREFIX)
        for encoding, variant in entry.encodings.items():
            if encoding == "br" and not brotli:
                continue
            etags.append((f"{stored}:{SUFFIX_OF[encoding]}", variant.etag))
        if len([e for e in entry.encodings if e != "br" or brotli]) > 1:
            vary.append(stored)
        mime[entry.content_type].add(PurePosixPath(url).suffix.lstrip(".").lower())
    keys = [key for key, _ in etags] + vary
    max_size, bucket = hash_sizes(keys)
    objects = store_root.resolve() / "objects"
    return "\n".join(
        [
            f"# Revue CDN, deployment {manifest.deployment} ({len(manifest.files)} files,"
            f" {skipped} with names unsafe here left to the origin)",
            f"map_hash_max_size {max_size};",
            f"map_hash_bucket_size {bucket};",
            *_policy_maps(types),
            "# The origin's strong ETag of each file, per encoding sent.",
            "map $uri:$sent_http_content_encoding $revue_etag {",
            '    default "";',
            *(f"    {quoted(key)} {quoted(etag, SAFE_VALUE)};" for key, etag in etags),
            "}",
            "map $uri $revue_vary {",
            '    default "";',
            *(f'    {quoted(url)} "Accept-Encoding";' for url in vary),
            "}",
            "# Cached answers of the origin, per encoding: br first, as the origin prefers it.",
            "map $http_accept_encoding $revue_encoding {",
            "    default identity;",
            '    "~*(^|[\\s,])br(\\s*;\\s*q=(1|0\\.0*[1-9])|\\s*(,|$))" br;',
            '    "~*(^|[\\s,])gzip(\\s*;\\s*q=(1|0\\.0*[1-9])|\\s*(,|$))" gzip;',
            "}",
            f"proxy_cache_path {quoted(str(cache_dir))} levels=1:2 keys_zone=revue_assets:10m"
            " max_size=1g inactive=7d;",
            "",
            "server {",
            f"    listen {int(listen)};",
            f"    server_name {server_name};",
            "    keepalive_requests 100000;",
            "",
            "    # Content-hashed files: immutable, served from the store.",
            f'    location ~ "{HASHED_LOCATION}" {{',
            f"        root {quoted(str(objects.parent))};",
            f"        rewrite ^{PREFIX}(.*)$ {OBJECTS}$1 break;",
            *(["        brotli_static on;"] if brotli else []),
            "        gzip_static on;",
            "        etag off;",
            "        types {",
            *(
                f"            {quoted(kind.split(';')[0], SAFE_VALUE)} {' '.join(sorted(ext))};"
                for kind, ext in sorted(mime.items())
            ),
            "        }",
            "        charset utf-8;",
            f"        charset_types {_charset_types(mime)};",
            "        add_header Cache-Control $revue_cache_control always;",
            "        add_header CDN-Cache-Control $revue_cdn_cache_control always;",
            "        add_header ETag $revue_etag always;",
            "        add_header Vary $revue_vary always;",
            '        add_header X-Content-Type-Options "nosniff" always;',
            "        try_files $uri =404;",
            "        # Hashed files never change: their descriptors and sizes are kept open.",
            f"        open_file_cache max={max(1000, 4 * len(vary) + len(etags))} inactive=300s;",
            "        open_file_cache_valid 300s;",
            "        open_file_cache_errors on;",
            # Small files: a read beats sendfile's set-up (measured: bench_cdn_nginx).
            "        sendfile off;",
            "    }",
            "",
            "    # Names that stay (HTML, manifest, ?v= URLs): the origin, through nginx's cache.",
            "    # A plain prefix, not ^~: that would stop nginx trying the location above.",
            f"    location {PREFIX} {{",
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


def _policy_maps(types: ResourceTypes) -> list[str]:
    """Cache-Control and CDN-Cache-Control of hashed files, by their extension's type:
    exact (hashed) keys for lower-case extensions, a case-blind pattern for the rest."""
    lines: list[str] = []
    for variable, header in (
        ("revue_cache_control", lambda p: p.cache_control()),
        ("revue_cdn_cache_control", lambda p: p.cdn_cache_control()),
    ):
        lines.append(f"map $revue_ext ${variable} {{")
        lines.append(f"    default {quoted(header(types.other.policy), SAFE_VALUE)};")
        for kind in types.types.values():
            if kind.hashed and kind.extensions:
                value = quoted(header(kind.policy), SAFE_VALUE)
                suffixes = [ext.lstrip(".") for ext in kind.extensions]
                lines += [f"    {suffix} {value};" for suffix in suffixes]
                lines.append(f'    "~*^({"|".join(map(re.escape, suffixes))})$" {value};')
        lines.append("}")
    return lines


def _charset_types(mime: dict[str, set[str]]) -> str:
    with_charset = sorted({kind.split(";")[0] for kind in mime if "charset=" in kind})
    return " ".join(with_charset) or "text/plain"
