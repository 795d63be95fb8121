"""A real npm package's files, every one in turn: Revue's origin vs nginx with the generated config
vs ServeStatic, with `Accept-Encoding: br, gzip`, in one run.

The package (default `@fortawesome/fontawesome-free@6.7.2`: CSS, JS, fonts,
SVG, SCSS, LESS, JSON) is fetched from the npm registry at bench time with
`npm pack` and ingested whole by Revue (hashed names, brotli 11, gzip 9).
ServeStatic serves the same files under their own names, precompressed by
its own tool. Each server is loaded by wrk (its own process) with a Lua
script that rotates over every file. nginx runs with the configuration
`revue-cdn nginx` writes (brotli_static where the module is installed), in
front of the origin, which it must not need for hashed files (answers that
went through the origin carry X-Cache-Status; their count is printed). Bytes
on the wire: every file fetched once through nginx, summed, beside the sum of
the manifest's brotli variants.

    .venv/bin/python bench/bench_cdn_nginx.py [--seconds 8] [--connections 32]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_cdn import fetch_package, wait_ready
from load import LoadResult, run_wrk
from peers import servestatic_tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services/cdn/tests"))
from test_nginx import main_config

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.ingest import ingest_directory
from revue.cdn.nginx import brotli_module, nginx_config
from revue.cdn.policy import ResourceTypes
from revue.devkit.embedded.probes import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def fetch(spec: str, into: Path) -> Path:
    return fetch_package(spec, into).parent  # the whole package, not only its dist/


def rotating(paths: list[str]) -> list[str]:
    """wrk Lua: each request the next path, for every connection alike."""
    listed = ",\n".join(f'  "{path}"' for path in paths)
    return [
        f"paths = {{\n{listed}\n}}",
        "counter = 0",
        "request = function()",
        "  counter = counter + 1",
        "  return wrk.format(nil, paths[(counter % #paths) + 1])",
        "end",
    ]


def load(base: str, paths: list[str], connections: int, seconds: int) -> LoadResult:
    headers = {"Accept-Encoding": "br, gzip"}
    run_wrk(base + paths[0], rotating(paths), headers, 8, 2, 1)  # warm
    return run_wrk(base + paths[0], rotating(paths), headers, connections, seconds, 1)


def wire_bytes(base: str, paths: list[str]) -> tuple[int, dict[str, int], int]:
    """Body bytes, answers per encoding, and answers that went through the origin."""
    total, encodings, proxied = 0, {}, 0
    for path in paths:
        request = urllib.request.Request(base + path, headers={"Accept-Encoding": "br, gzip"})
        with urllib.request.urlopen(request) as response:  # raw bytes: urllib decodes nothing
            total += len(response.read())
            encoding = response.headers.get("Content-Encoding", "identity")
            encodings[encoding] = encodings.get(encoding, 0) + 1
            proxied += response.headers.get("X-Cache-Status") is not None
    return total, encodings, proxied


def server(
    kind: str, directory: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "bench/static_servers.py", kind, str(directory), str(port)], env=env
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--package", default="@fortawesome/fontawesome-free@6.7.2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="revue-bench-nginx-"))
    processes: list[subprocess.Popen] = []
    try:
        package = fetch(args.package, work)
        store = AssetStore(work / "store")
        started = time.perf_counter()
        manifest, _ = ingest_directory(package, store, ResourceTypes())
        ingest_s = time.perf_counter() - started
        again = time.perf_counter()
        ingest_directory(package, store, ResourceTypes())
        reingest_s = time.perf_counter() - again
        hashed = sorted(entry.path for entry in manifest.files.values() if entry.hashed)
        logical = sorted(f"/assets/{path}" for path, e in manifest.files.items() if e.hashed)
        kinds = sorted({path.rsplit(".", 1)[-1] for path in manifest.files})
        served, peer_env = servestatic_tree(package, work)

        origin_port, nginx_port, static_port = free_port(), free_port(), free_port()
        processes.append(server("revue", store.root, origin_port))
        processes.append(server("servestatic", served, static_port, peer_env))
        brotli = brotli_module() is not None
        snippet = nginx_config(
            manifest,
            store.root,
            ResourceTypes(),
            listen=nginx_port,
            origin=f"127.0.0.1:{origin_port}",
            cache_dir=work / "nginx-cache",
            brotli=brotli,
        )
        conf = work / "nginx.conf"
        conf.write_text(main_config(work, snippet.replace("access_log off;", ""), brotli))
        processes.append(
            subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work), "-g", "daemon off;"])
        )
        origin, front = f"http://127.0.0.1:{origin_port}", f"http://127.0.0.1:{nginx_port}"
        statics = f"http://127.0.0.1:{static_port}"
        for url in (origin + hashed[0], front + hashed[0], statics + logical[0]):
            wait_ready(url)
        results = {
            "Revue origin": load(origin, hashed, args.connections, args.seconds),
            "nginx (generated config)": load(front, hashed, args.connections, args.seconds),
            "ServeStatic": load(statics, logical, args.connections, args.seconds),
        }
        sent, encodings, proxied = wire_bytes(front, hashed)
        brotli_sum = sum(
            (entry.encodings.get("br") or entry.encodings["identity"]).size
            for entry in manifest.files.values()
            if entry.hashed
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{args.package}: {len(manifest.files)} files ({', '.join(kinds)}), every hashed one"
        f" in turn ({len(hashed)}), {args.connections} connections, {args.seconds} s each"
    )
    print(f"ingest {ingest_s:.1f} s, unchanged re-ingest {reingest_s:.1f} s; nginx brotli {brotli}")
    print(f"{'server':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(
            f"{name:<28} {r.requests_per_s:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.non_2xx:>8}"
        )
    nginx = results["nginx (generated config)"].requests_per_s
    revue = results["Revue origin"].requests_per_s
    servestatic = results["ServeStatic"].requests_per_s
    print(f"nginx / origin: {nginx / revue:.2f}x (target >= 3x)")
    print(f"origin / ServeStatic: {revue / servestatic:.2f}x (target >= 5x)")
    print(
        f"bytes on the wire through nginx, every file once: {sent:,}; the manifest's brotli"
        f" variants (identity where none): {brotli_sum:,}; encodings {encodings};"
        f" answered through the origin: {proxied}"
    )


if __name__ == "__main__":
    main()
