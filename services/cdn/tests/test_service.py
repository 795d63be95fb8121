"""The cdn service on real NATS and Postgres: upload -> serve -> events -> invalidations."""

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile

import httpx
import nats
import pytest

from revue.cdn.app import create_app
from revue.cdn.settings import CdnSettings
from revue.common.bus.streams import ensure_streams
from revue.common.contracts.events import RequestInvalidation
from revue.common.contracts.subjects import BusTopology
from revue.common.db import migrations
from revue.devkit.testing.waiting import wait_until

from .conftest import OPERATOR, tarball, write_build


async def test_a_deployment_is_served_announced_and_its_stale_names_purged(
    cdn, tmp_path, nats_url, bus_namespace
):
    connection = await nats.connect(nats_url)
    topology = BusTopology(bus_namespace)
    published, completed = [], []

    async def on_published(message):
        published.append(message)

    async def on_completed(message):
        completed.append(message)

    await connection.subscribe(topology.subject("cdn.asset.published"), cb=on_published)
    await connection.subscribe(topology.subject("cdn.invalidate.completed"), cb=on_completed)
    try:
        first = await cdn.post(
            "/api/v1/cdn/deployments",
            content=tarball(write_build(tmp_path / "v1")),
            headers=OPERATOR,
        )
        assert first.status_code == 201, first.text
        manifest = (await cdn.get("/assets/manifest.json")).json()
        assert manifest["deployment"] == first.json()["deployment"]
        app_url = manifest["files"]["js/app.js"]["url"]
        served = await cdn.get(app_url, headers={"accept-encoding": "br"})
        assert served.status_code == 200 and served.headers["content-encoding"] == "br"
        assert (await cdn.get("/api/v1/cdn/manifest")).json()["deployment"] == manifest[
            "deployment"
        ]

        second = await cdn.post(
            "/api/v1/cdn/deployments",
            content=tarball(write_build(tmp_path / "v2", "2")),
            headers=OPERATOR,
        )
        assert sorted(second.json()["changed_paths"]) == ["index.html", "js/app.js"]
        assert (await cdn.get(app_url)).status_code == 200  # the old hashed name stays servable
        await wait_until(lambda: len(published) == 2, timeout=10, message="two cdn.asset.published")
        announced = json.loads(published[1].data)
        assert set(announced["changed_paths"]) == {
            "/assets/manifest.json",
            "/assets/index.html",
            "/assets/js/app.js",
        }
        await wait_until(lambda: len(completed) >= 2, timeout=10, message="invalidations completed")
        assert {json.loads(m.data)["status"] for m in completed} == {"purged"}

        # Any service can ask over JetStream; the request is stored, purged and announced.
        request = RequestInvalidation(surrogate_keys=["deploy-x"])
        await connection.jetstream().publish(
            topology.subject("cdn.invalidate.requested"), request.model_dump_json().encode()
        )

        async def finished():
            row = await cdn.get(f"/api/v1/cdn/invalidations/{request.request_id}", headers=OPERATOR)
            return row.status_code == 200 and row.json()["status"] == "purged"

        await wait_until(finished, timeout=10, message="the JetStream request purged")
        deployments = (await cdn.get("/api/v1/cdn/deployments", headers=OPERATOR)).json()
        assert [d["id"] for d in deployments] == [
            second.json()["deployment"],
            first.json()["deployment"],
        ]
        nginx = await cdn.get("/api/v1/cdn/nginx.conf", headers=OPERATOR)
        assert nginx.status_code == 200 and "proxy_cache revue_assets" in nginx.text
    finally:
        await connection.drain()


async def test_operators_only_and_hostile_uploads_leave_nothing_behind(cdn, tmp_path):
    build = tarball(write_build(tmp_path / "v1"))
    assert (await cdn.post("/api/v1/cdn/deployments", content=build)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        await cdn.post("/api/v1/cdn/invalidations", json={"paths": ["/x"]}, headers=wrong)
    ).status_code == 401
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        info = tarfile.TarInfo("../../outside.js")
        info.size = 1
        bundle.addfile(info, io.BytesIO(b"x"))
    refused = await cdn.post("/api/v1/cdn/deployments", content=buffer.getvalue(), headers=OPERATOR)
    assert refused.status_code == 422
    assert "path traversal" in refused.json()["detail"]
    store = tmp_path / "store"
    assert not (tmp_path / "outside.js").exists()
    assert list((store / "incoming").iterdir()) == []
    assert (await cdn.get("/assets/manifest.json")).status_code == 404  # nothing deployed
    empty = await cdn.post("/api/v1/cdn/invalidations", json={}, headers=OPERATOR)
    assert empty.status_code == 422
    queued = await cdn.post(
        "/api/v1/cdn/invalidations", json={"paths": ["/assets/a.html"]}, headers=OPERATOR
    )
    assert queued.status_code == 202


async def test_the_cli_deploys_a_directory_the_running_service_then_serves(
    cdn, tmp_path, service_env
):
    build = write_build(tmp_path / "cli-build")
    command = [sys.executable, "-m", "revue.cdn.entrypoints.cli", "ingest", str(build)]
    env = {**service_env, "CDN_STORE_DIR": str(tmp_path / "store")}
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    assert "5 files" in out.decode()

    async def served():
        response = await cdn.get("/assets/manifest.json")
        return response.status_code == 200 and response.json()

    manifest = await wait_until(
        served, timeout=10, message="the service serves the CLI's deployment"
    )
    assert (await cdn.get(manifest["files"]["js/app.js"]["url"])).status_code == 200

    async def purged():
        pending = await cdn.get("/api/v1/cdn/invalidations/pending", headers=OPERATOR)
        return pending.json()["paths"] == []

    await wait_until(purged, timeout=10, message="the CLI's invalidation purged by the service")
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "revue.cdn.entrypoints.cli", "ingest", str(tmp_path / "missing")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "not a directory" in refused.stderr


@pytest.mark.parametrize("token", [None, "", "short-but-not-empty", "x" * 31])
async def test_an_empty_or_short_admin_token_leaves_the_admin_api_closed(
    make_settings, tmp_path, token
):
    settings = make_settings(CdnSettings, cdn_store_dir=tmp_path / "store", cdn_admin_token=token)
    app = create_app(settings, configure_process=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdn"
    ) as client:
        for credentials in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {token}"}):
            answer = await client.post("/api/v1/cdn/invalidations/all", headers=credentials)
            assert answer.status_code == 503, (credentials, answer.text)
            assert "not configured" in answer.json()["detail"]


async def test_a_long_admin_token_must_match_exactly(make_settings, tmp_path):
    token = "t" * 32
    settings = make_settings(CdnSettings, cdn_store_dir=tmp_path / "store", cdn_admin_token=token)
    app = create_app(settings, configure_process=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdn"
    ) as client:
        for wrong in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {token[:-1]}"}):
            answer = await client.get("/api/v1/cdn/invalidations/pending", headers=wrong)
            assert answer.status_code == 401, (wrong, answer.text)


async def test_glob_purges_expand_over_this_and_earlier_deployments_and_unmatched_are_reported(
    cdn, tmp_path
):
    first = await cdn.post(
        "/api/v1/cdn/deployments", content=tarball(write_build(tmp_path / "v1")), headers=OPERATOR
    )
    old_app = first.json()  # js/app.js changes in the next build
    await cdn.post(
        "/api/v1/cdn/deployments",
        content=tarball(write_build(tmp_path / "v2", "2")),
        headers=OPERATOR,
    )
    manifest = (await cdn.get("/assets/manifest.json")).json()
    new_app = manifest["files"]["js/app.js"]["url"]
    answer = await cdn.post(
        "/api/v1/cdn/invalidations",
        json={"paths": ["/assets/js/app.*.js", "/static/nothing/*.js"]},
        headers=OPERATOR,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["patterns"] == ["/assets/js/app.*.js"]
    assert body["unmatched_patterns"] == ["/static/nothing/*.js"]
    cdn_app = cdn.app.state.service
    known = cdn_app.invalidator.known_paths()
    hashed = [
        path for path in known if path.startswith("/assets/js/app.") and path != "/assets/js/app.js"
    ]
    assert new_app in hashed and len(hashed) == 2, (old_app, hashed)  # both deployments' names
    nothing = await cdn.post(
        "/api/v1/cdn/invalidations", json={"patterns": ["/assets/*.exe"]}, headers=OPERATOR
    )
    assert nothing.status_code == 422 and "nothing sent" in nothing.json()["detail"]


async def test_a_base_url_makes_the_manifest_and_the_cli_give_absolute_urls(
    make_settings, tmp_path, database_url
):
    await asyncio.to_thread(migrations.upgrade, "revue.cdn", database_url)
    base = "https://cdn.example.com"
    env = {
        **os.environ,
        "CDN_STORE_DIR": str(tmp_path / "store"),
        "CDN_BASE_URL": base,
        "DATABASE_URL": database_url,
        "NATS_URL": make_settings(CdnSettings).nats_url,
        "BUS_NAMESPACE": make_settings(CdnSettings).bus_namespace,
    }
    connection = await nats.connect(env["NATS_URL"])
    await ensure_streams(connection.jetstream(), BusTopology(env["BUS_NAMESPACE"]))
    await connection.drain()
    build = write_build(tmp_path / "build")

    def cli(*words):
        return subprocess.run(
            [sys.executable, "-m", "revue.cdn.entrypoints.cli", *words],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    ingest = await asyncio.to_thread(cli, "ingest", str(build))
    assert ingest.returncode == 0, ingest.stderr
    url = await asyncio.to_thread(cli, "url", "js/app.js")
    assert url.returncode == 0 and url.stdout.startswith(f"{base}/assets/js/app."), url.stdout
    settings = make_settings(CdnSettings, database_url, cdn_store_dir=tmp_path / "store")
    app = create_app(settings, configure_process=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        manifest = (await c.get("/assets/manifest.json")).json()
        entry = manifest["files"]["js/app.js"]
        assert entry["url"] == url.stdout.strip()
        assert entry["versioned_url"].startswith(f"{base}/assets/js/app.js?v=")
        served = await c.get(entry["url"].removeprefix(base))  # the origin routes on the path
        assert served.status_code == 200
