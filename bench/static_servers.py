"""One static-file server per process, for bench_cdn.py: the same uvicorn, three apps.

python bench/static_servers.py revue      STORE_DIR PORT   Revue's origin (precompressed, in memory)
python bench/static_servers.py starlette  DIST_DIR  PORT   StaticFiles behind GZipMiddleware
python bench/static_servers.py servestatic DIST_DIR PORT   ServeStatic with its own .br/.gz files
"""

import sys
from pathlib import Path

import uvicorn


def app_for(kind: str, directory: Path):
    if kind == "revue":
        from revue.cdn.adapters.asset_store import AssetStore
        from revue.cdn.origin import Origin
        from revue.cdn.policy import ResourceTypes

        origin = Origin(AssetStore(directory), ResourceTypes())
        origin.reload()
        return origin
    if kind == "starlette":
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.gzip import GZipMiddleware
        from starlette.routing import Mount
        from starlette.staticfiles import StaticFiles

        return Starlette(
            routes=[Mount("/assets", StaticFiles(directory=directory))],
            middleware=[Middleware(GZipMiddleware, minimum_size=500)],
        )
    from servestatic import ServeStaticASGI

    return ServeStaticASGI(
        None, root=directory, prefix="/assets/", immutable_file_test=r"\.[0-9a-f]{12}\."
    )


if __name__ == "__main__":
    kind, directory, port = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    uvicorn.run(
        app_for(kind, directory), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
