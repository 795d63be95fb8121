"""The generated nginx front, loaded and run by nginx itself.

A deployment of 10,000 files passes `nginx -t` (the per-file maps' hash
sizes come from their entries), and nginx started on a free port serves a
hashed file straight from the store, with no origin running at all, with the
origin's own headers and the precompressed variant: brotli where nginx has
the brotli_static module, gzip otherwise.
"""

import asyncio
import os
import shutil
import socket
import subprocess

import httpx
import pytest

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.archive import ArchiveLimits
from revue.cdn.compression import CompressionLevels
from revue.cdn.ingest import IngestOptions, ingest_directory
from revue.cdn.nginx import brotli_module, hash_sizes, nginx_config
from revue.cdn.origin import Origin
from revue.cdn.policy import ResourceTypes
from revue.devkit.embedded.probes import free_port
from revue.devkit.testing.waiting import wait_until_sync

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
needs_nginx = pytest.mark.skipif(
    NGINX is None,
    reason="nginx is not installed (make install installs Debian's nginx-light where apt exists)",
)
# The headers nginx must send as the origin does.
SAME = ("content-type", "cache-control", "cdn-cache-control", "etag", "vary", "content-encoding")


def main_config(tmp_path, server: str, brotli: bool) -> str:
    module = brotli_module()
    lines = [
        "worker_processes 1;",
        f"pid {tmp_path}/nginx.pid;",
        f"error_log {tmp_path}/error.log;",
        *(["user root;"] if os.geteuid() == 0 else []),
        *([f"load_module {module};"] if brotli and module else []),
        "events {}",
        "http {",
        "  access_log off;",
        *(f"  {kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy")),
        *(f"  {kind}_temp_path {tmp_path}/{kind};" for kind in ("fastcgi", "uwsgi", "scgi")),
        server,
        "}",
    ]
    return "\n".join(lines)


def check(tmp_path, conf: str) -> subprocess.CompletedProcess:
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    return subprocess.run(
        [NGINX, "-t", "-c", str(path), "-p", str(tmp_path)], capture_output=True, text=True
    )


def tree(root, files: int):
    for index in range(files):
        folder = root / f"pkg{index % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = ("js", "css", "svg", "woff2")[index % 4]
        (folder / f"module-{index}.{kind}").write_text(f"/* {index} */\n" + "x = 1;\n" * 40)
    (root / "index.html").write_text("<!doctype html><title>big</title>\n")
    return root


@needs_nginx
def test_nginx_accepts_the_configuration_of_ten_thousand_files(tmp_path):
    store = AssetStore(tmp_path / "store")
    fast = IngestOptions(
        levels=CompressionLevels(brotli_quality=1, gzip_level=1),
        limits=ArchiveLimits(max_files=20_000),
    )
    manifest, _ = ingest_directory(tree(tmp_path / "build", 10_000), store, ResourceTypes(), fast)
    server = nginx_config(
        manifest, store.root, ResourceTypes(), listen=free_port(), cache_dir=tmp_path / "cache"
    )
    assert "module-9999" in server and server.count("\n") < 50_000
    checked = check(tmp_path, main_config(tmp_path, server, brotli=True))
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "syntax is ok" in checked.stderr


def test_map_hash_sizes_grow_with_the_entries():
    assert hash_sizes(["/a"]) == (2048, 128)
    size, bucket = hash_sizes([f"/assets/{'x' * 150}.{i}" for i in range(20_000)])
    assert size >= 40_000 and bucket >= 256


@needs_nginx
@pytest.mark.parametrize("brotli", [True, False], ids=["brotli", "gzip-only"])
async def test_nginx_serves_hashed_files_from_disk_with_the_origins_headers(
    tmp_path, deployed, brotli
):
    if brotli and brotli_module() is None:
        pytest.skip("this nginx has no brotli_static module (make install adds it where apt runs)")
    store, manifest = deployed
    port = free_port()
    closed_origin = f"127.0.0.1:{free_port()}"  # nothing listens: nginx alone must answer
    server = nginx_config(
        manifest,
        store.root,
        ResourceTypes(),
        listen=port,
        origin=closed_origin,
        cache_dir=tmp_path / "cache",
        brotli=brotli,
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_config(tmp_path, server, brotli))
    nginx = await asyncio.to_thread(
        subprocess.Popen, [NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"]
    )
    try:
        wait_until_sync(lambda: listening(port), timeout=10, message="nginx listening")
        origin = Origin(store, ResourceTypes())
        origin.reload()
        transport = httpx.ASGITransport(app=origin)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as front,
            httpx.AsyncClient(transport=transport, base_url="http://origin") as direct,
        ):
            wanted = "br" if brotli else "gzip"
            for path in ("js/app.js", "css/site.css", "img/logo.png"):
                url = manifest.files[path].url
                headers = {"accept-encoding": "br, gzip"}
                served = await front.get(url, headers=headers)
                expected = await direct.get(url, headers={"accept-encoding": f"{wanted}, gzip"})
                assert served.status_code == 200, (path, served.text)
                for name in SAME:
                    assert served.headers.get(name) == expected.headers.get(name), (path, name)
                assert served.content == expected.content  # httpx decodes either encoding
                if path != "img/logo.png":
                    assert served.headers["content-encoding"] == wanted
                    variant = manifest.files[path].encodings[wanted]
                    assert int(served.headers["content-length"]) == variant.size
            html = await front.get("/assets/index.html")
            assert html.status_code == 502  # dynamic names go to the (closed) origin
    finally:
        nginx.terminate()
        await asyncio.to_thread(nginx.wait, 10)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_unsafe_names_never_reach_the_configuration(deployed):
    store, manifest = deployed
    entry = manifest.files["js/app.js"]
    hostile = entry.model_copy(update={"url": '/assets/x";} evil {.abc123def456.js'})
    manifest = manifest.model_copy(update={"files": {**manifest.files, "x.js": hostile}})
    server = nginx_config(manifest, store.root, ResourceTypes())
    assert "evil" not in server
    assert "1 with names unsafe here" in server


def test_the_encoding_map_prefers_brotli_when_both_are_accepted(deployed):
    store, manifest = deployed
    server = nginx_config(manifest, store.root, ResourceTypes())
    encodings = server.split("$revue_encoding {")[1].split("}")[0]
    assert encodings.index(" br;") < encodings.index(" gzip;")
