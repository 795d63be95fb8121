"""Fixtures of the cdn service's tests: a small front-end build and a store holding it."""

import asyncio
import io
import random
import tarfile
from pathlib import Path

import httpx
import pytest

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.app import create_app
from revue.cdn.ingest import ingest_directory
from revue.cdn.origin import Origin
from revue.cdn.policy import ResourceTypes
from revue.cdn.settings import CdnSettings
from revue.common.db import migrations


def write_build(root: Path, version: str = "1") -> Path:
    files = {
        "index.html": f"<!doctype html><title>v{version}</title>\n" + "<p>hello</p>\n" * 40,
        "js/app.js": f"// build {version}\n" + "export function add(a, b) { return a + b }\n" * 200,
        "css/site.css": "body { background: url(../img/logo.png) }\n"
        '.hero { background: url("/img/logo.png?size=2#top") }\n'
        '.ext { background: url(https://example.com/x.png) }\n@import "base.css";\n'
        + ".a { color: red }\n"
        * 100,
        "css/base.css": ".b { color: blue }\n" * 60,
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    rng = random.Random(7)
    (root / "img").mkdir(exist_ok=True)
    (root / "img/logo.png").write_bytes(bytes(rng.randrange(256) for _ in range(4000)))
    return root


@pytest.fixture
def build(tmp_path) -> Path:
    return write_build(tmp_path / "build")


@pytest.fixture
def deployed(tmp_path, build):
    store = AssetStore(tmp_path / "store")
    manifest, _ = ingest_directory(build, store, ResourceTypes())
    return store, manifest


@pytest.fixture
def origin(deployed) -> Origin:
    store, _ = deployed
    origin = Origin(store, ResourceTypes(), max_ranges=4)
    origin.reload()
    return origin


TOKEN = "operator-token-" + "z" * 24
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def tarball(root) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                bundle.add(path, arcname=str(path.relative_to(root)))
    return buffer.getvalue()


@pytest.fixture
async def cdn(make_settings, database_url, tmp_path):
    await asyncio.to_thread(migrations.upgrade, "revue.cdn", database_url)
    settings = make_settings(
        CdnSettings,
        database_url,
        cdn_store_dir=tmp_path / "store",
        cdn_admin_token=TOKEN,
        cdn_invalidation_window=0,
        cdn_invalidation_retry_interval=0.2,
    )
    app = create_app(settings, configure_process=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cdn") as client,
    ):
        client.app = app
        yield client
