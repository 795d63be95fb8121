"""The gateway publishes the cdn's manifest: asked over the bus, passed through unchanged."""

import asyncio
import contextlib

import httpx
from gateway_with_analysis import running

from revue.cdn.app import create_app as cdn_app
from revue.cdn.settings import CdnSettings
from revue.common.db import migrations

MANIFEST = "/api/v1/cdn/manifest"


async def test_the_gateway_serves_the_current_manifest_anonymously(
    make_settings, database_url, tmp_path
):
    await asyncio.to_thread(migrations.upgrade, "revue.cdn", database_url)
    settings = make_settings(CdnSettings, database_url, cdn_store_dir=tmp_path / "store")
    cdn = cdn_app(settings, configure_process=False)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(cdn.router.lifespan_context(cdn))
        client = await stack.enter_async_context(
            running(make_settings, database_url, analysis=False)
        )
        nothing = await client.get(MANIFEST)
        assert nothing.status_code == 404
        assert "nothing deployed" in nothing.json()["detail"]

        build = tmp_path / "build"
        (build / "js").mkdir(parents=True)
        (build / "js/app.js").write_text("export const answer = 42;\n" * 300)
        (build / "index.html").write_text("<!doctype html><title>Revue</title>\n")
        deployment = await cdn.state.service.deployer.deploy_directory(build)

        served = await client.get(MANIFEST, headers={"Accept-Encoding": "identity"})
        assert served.status_code == 200
        assert served.headers["content-type"] == "application/json"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cdn), base_url="http://cdn"
        ) as origin:
            at_origin = await origin.get("/assets/manifest.json")
        assert served.json() == at_origin.json()
        assert served.json()["deployment"] == deployment["deployment"]
        assert served.json()["files"]["js/app.js"]["url"].startswith("/assets/js/app.")

        etag = served.headers["etag"]
        again = await client.get(MANIFEST, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, no-cache"


async def test_without_a_cdn_the_gateway_answers_503_with_retry_after(make_settings, database_url):
    async with running(make_settings, database_url, analysis=False) as client:
        answer = await client.get(MANIFEST)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"
