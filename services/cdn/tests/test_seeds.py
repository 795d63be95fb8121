"""Seed 001's CDNManager example, run as its users wrote it (imports aside), on the real cdn."""

import brotli

from revue.cdn.seeds import get_cdn_manager
from revue.devkit.testing.waiting import wait_until

from .conftest import OPERATOR, tarball, write_build


async def test_seed_001_cdn_manager_example(cdn, tmp_path):
    settings = cdn.app.state.service.settings.model_copy(
        update={"cdn_base_url": "https://cdn.example.com"}
    )
    build = write_build(tmp_path / "dist")
    deployed = await cdn.post("/api/v1/cdn/deployments", content=tarball(build), headers=OPERATOR)
    assert deployed.status_code == 201, deployed.text
    cdn_manager = get_cdn_manager(settings)

    # Generate versioned URL
    url = cdn_manager.get_cdn_url("/static/js/app.js", file_path=build / "js/app.js")
    assert url.startswith("https://cdn.example.com/static/js/app.js?v=")
    assert len(url.rsplit("=", 1)[1]) == 8
    # A deployed file without a file path: its hashed name in the current deployment
    hashed = cdn_manager.get_cdn_url("js/app.js")
    assert "/js/app." in hashed and hashed.endswith(".js") and hashed != "js/app.js"

    # Automatic compression based on Accept-Encoding
    file_content = (build / "js/app.js").read_bytes() * 50
    content, headers = cdn_manager.process_resource(
        content=file_content, file_path="/static/js/app.js", accept_encoding="br, gzip"
    )
    assert headers["Content-Encoding"] == "br"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Vary"] == "Accept-Encoding"
    assert brotli.decompress(content) == file_content
    plain, plain_headers = cdn_manager.process_resource(file_content, "/static/js/app.js", "")
    assert plain == file_content and "Content-Encoding" not in plain_headers

    # Invalidate specific paths: the running cdn stores the request and purges it
    request_id = await cdn_manager.queue_invalidation(["/assets/js/app.*.js", "/assets/index.html"])

    async def stored():
        answer = await cdn.get(f"/api/v1/cdn/invalidations/{request_id}", headers=OPERATOR)
        return answer.status_code == 200 and answer.json()

    row = await wait_until(stored, timeout=10)
    assert row["patterns"] == ["/assets/js/app.*.js"]
    assert row["paths"] == ["/assets/index.html"]
