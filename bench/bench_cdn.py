"""Serving a hashed JS bundle: Revue's origin vs Starlette StaticFiles + GZip vs ServeStatic.

A real front-end package is fetched from the npm registry at bench time
(`npm pack bootstrap@5`), its dist/ ingested by Revue (hash, brotli 11, gzip 9)
and precompressed by ServeStatic's own tool. The three servers run under the
same uvicorn, one process each, loaded by wrk from its own process with
`Accept-Encoding: br, gzip`, in the same run. Also prints the bytes on the
wire for the package's JS and CSS, brotli vs gzip -9.

    .venv/bin/python bench/bench_cdn.py [--seconds 8] [--connections 32] [--package bootstrap@5]
"""

import argparse
import gzip
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from load import wrk_get
from peers import servestatic_tree

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.ingest import ingest_directory
from revue.cdn.policy import ResourceTypes
from revue.devkit.embedded.probes import free_port

BUNDLE = "js/bootstrap.bundle.min.js"


def fetch_package(spec: str, into: Path) -> Path:
    subprocess.run(
        ["npm", "pack", spec, "--silent", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    archive = next(into.glob("*.tgz"))
    with tarfile.open(archive) as bundle:
        bundle.extractall(into, filter="data")
    return into / "package" / "dist"


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def wire_bytes(dist: Path) -> tuple[int, int, int]:
    import brotli

    raw = br = gz = 0
    for path in sorted(dist.rglob("*")):
        if path.suffix in (".js", ".css") and ".min." in path.name:
            data = path.read_bytes()
            raw += len(data)
            br += len(brotli.compress(data, quality=11))
            gz += len(gzip.compress(data, compresslevel=9))
    return raw, br, gz


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--package", default="bootstrap@5")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="revue-bench-cdn-"))
    try:
        dist = fetch_package(args.package, work)
        store = AssetStore(work / "store")
        manifest, _ = ingest_directory(dist, store, ResourceTypes())
        hashed_url = manifest.files[BUNDLE].url
        served, peer_env = servestatic_tree(dist, work)
        servers = {
            "Revue origin": ("revue", store.root, hashed_url),
            "Starlette StaticFiles + GZip": ("starlette", dist, f"/assets/{BUNDLE}"),
            "ServeStatic": ("servestatic", served, f"/assets/{BUNDLE}"),
        }
        results = {}
        for name, (kind, directory, path) in servers.items():
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "bench/static_servers.py", kind, str(directory), str(port)],
                env=peer_env,
            )
            try:
                url = f"http://127.0.0.1:{port}{path}"
                wait_ready(url)
                headers = {"Accept-Encoding": "br, gzip"}
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=headers)
                ) as response:
                    encoding = response.headers.get("Content-Encoding", "identity")
                    size = len(response.read())
                wrk_get(url, headers, 8, 2)  # warm
                result = wrk_get(url, headers, args.connections, args.seconds)
                results[name] = (result, encoding, size)
            finally:
                process.terminate()
                process.wait()
        wire = wire_bytes(dist)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.package}: {BUNDLE}, {args.connections} connections, {args.seconds} s each")
    print(f"{'server':<30} {'encoding':>8} {'bytes':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (r, encoding, size) in results.items():
        figures = f"{r.requests_per_s:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}"
        print(f"{name:<30} {encoding:>8} {size:>8} {figures}")
    revue = results["Revue origin"][0].requests_per_s
    servestatic = results["ServeStatic"][0].requests_per_s
    starlette = results["Starlette StaticFiles + GZip"][0].requests_per_s
    print(f"Revue / ServeStatic: {revue / servestatic:.2f}x (target >= 2x)")
    print(f"Revue / StaticFiles + GZip: {revue / starlette:.2f}x")
    raw, br, gz = wire
    saved = 100 * (1 - br / gz)
    print(
        f"package .min JS + CSS: {raw} bytes raw, brotli 11 {br}, gzip -9 {gz} ({saved:.1f} % less)"
    )


if __name__ == "__main__":
    main()
