"""The origin's HTTP behaviour (RFC 9110): negotiation, validators, ranges, HEAD, streaming."""

import brotli
import httpx
import pytest

from revue.cdn.origin import Origin
from revue.cdn.policy import ResourceTypes


@pytest.fixture
async def client(origin):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=origin), base_url="http://o"
    ) as c:
        yield c


async def raw(client, path, headers):
    """The bytes on the wire (httpx would decode br and gzip)."""
    async with client.stream("GET", path, headers=headers) as response:
        return b"".join([chunk async for chunk in response.aiter_raw()])


def url(deployed, path):
    return deployed[1].files[path].url


async def test_encoding_follows_q_values_with_br_preferred(client, deployed):
    app = url(deployed, "js/app.js")
    cases = {
        "br, gzip": "br",
        "gzip, br;q=0.5": "gzip",
        "gzip;q=0.5, br;q=0.5": "br",
        "*": "br",
        "br;q=0, *;q=0.1": "gzip",
        "identity": None,
        "": None,
    }
    for accept, expected in cases.items():
        response = await client.get(app, headers={"accept-encoding": accept})
        assert response.status_code == 200, accept
        assert response.headers.get("content-encoding") == expected, accept
        assert response.headers["vary"] == "Accept-Encoding"
    refused = await client.get(app, headers={"accept-encoding": "identity;q=0, br;q=0, gzip;q=0"})
    assert refused.status_code == 406


async def test_bodies_are_the_ingested_bytes(client, deployed, build):
    wire = await raw(client, url(deployed, "js/app.js"), {"accept-encoding": "br"})
    assert brotli.decompress(wire) == (build / "js/app.js").read_bytes()
    css = (await client.get(url(deployed, "css/site.css"))).text
    logo = url(deployed, "img/logo.png")
    assert f"url(../img/{logo.rsplit('/', 1)[1]})" in css
    assert f'url("{logo}?size=2#top")' in css
    assert (await client.get(logo)).content == (build / "img/logo.png").read_bytes()


async def test_etags_differ_per_encoding_and_304_carries_what_rfc_9110_requires(client, deployed):
    app = url(deployed, "js/app.js")
    tags = {
        encoding: (await client.get(app, headers={"accept-encoding": encoding})).headers["etag"]
        for encoding in ("br", "gzip", "identity")
    }
    assert len(set(tags.values())) == 3
    assert all(tag.startswith('"') for tag in tags.values())  # strong
    again = await client.get(app, headers={"accept-encoding": "br", "if-none-match": tags["br"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tags["br"]
    assert again.headers["vary"] == "Accept-Encoding"
    assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-encoding" not in again.headers and "content-type" not in again.headers
    other = await client.get(app, headers={"accept-encoding": "gzip", "if-none-match": tags["br"]})
    assert other.status_code == 200  # the gzip representation has another tag
    weak = await client.get(
        app, headers={"accept-encoding": "br", "if-none-match": f"W/{tags['br']}"}
    )
    assert weak.status_code == 304  # If-None-Match compares weakly


async def test_if_modified_since_only_without_if_none_match(client, deployed):
    app = url(deployed, "js/app.js")
    modified = (await client.get(app)).headers["last-modified"]
    assert (await client.get(app, headers={"if-modified-since": modified})).status_code == 304
    both = await client.get(app, headers={"if-modified-since": modified, "if-none-match": '"nope"'})
    assert both.status_code == 200
    garbage = await client.get(app, headers={"if-modified-since": "yesterday-ish"})
    assert garbage.status_code == 200


async def test_ranges_including_one_byte_suffix_and_unsatisfiable(client, deployed, build):
    app = url(deployed, "js/app.js")
    whole = (build / "js/app.js").read_bytes()
    identity = {"accept-encoding": "identity"}
    one = await client.get(app, headers={**identity, "range": "bytes=0-0"})
    assert (one.status_code, one.content) == (206, whole[:1])
    assert one.headers["content-range"] == f"bytes 0-0/{len(whole)}"
    suffix = await client.get(app, headers={**identity, "range": "bytes=-10"})
    assert suffix.content == whole[-10:]
    open_ended = await client.get(app, headers={**identity, "range": f"bytes={len(whole) - 5}-"})
    assert open_ended.content == whole[-5:]
    clamped = await client.get(app, headers={**identity, "range": f"bytes=10-{len(whole) * 2}"})
    assert clamped.content == whole[10:]
    for unsatisfiable in (f"bytes={len(whole)}-", "bytes=-0", "bytes=0-0,1-1,2-2,3-3,4-4"):
        refused = await client.get(app, headers={**identity, "range": unsatisfiable})
        assert refused.status_code == 416, unsatisfiable
        assert refused.headers["content-range"] == f"bytes */{len(whole)}"
    ignored = await client.get(app, headers={**identity, "range": "lines=1-2"})
    assert (ignored.status_code, ignored.content) == (200, whole)


async def test_multiple_ranges_come_as_multipart_byteranges(client, deployed, build):
    app = url(deployed, "js/app.js")
    whole = (build / "js/app.js").read_bytes()
    response = await client.get(
        app, headers={"accept-encoding": "identity", "range": "bytes=0-1,5-6"}
    )
    assert response.status_code == 206
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=")[1].encode()
    parts = response.content.split(b"--" + boundary)
    assert whole[0:2] in parts[1] and b"Content-Range: bytes 0-1/" in parts[1]
    assert whole[5:7] in parts[2] and b"Content-Range: bytes 5-6/" in parts[2]
    assert int(response.headers["content-length"]) == len(response.content)


async def test_if_range_with_a_stale_validator_sends_the_whole_representation(client, deployed):
    app = url(deployed, "js/app.js")
    etag = (await client.get(app, headers={"accept-encoding": "identity"})).headers["etag"]
    fresh = await client.get(
        app, headers={"accept-encoding": "identity", "range": "bytes=0-3", "if-range": etag}
    )
    assert fresh.status_code == 206
    stale = await client.get(
        app, headers={"accept-encoding": "identity", "range": "bytes=0-3", "if-range": '"old"'}
    )
    assert stale.status_code == 200


async def test_head_methods_and_missing_paths(client, deployed):
    app = url(deployed, "js/app.js")
    head = await client.head(app, headers={"accept-encoding": "gzip"})
    get = await client.get(app, headers={"accept-encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["etag"] == get.headers["etag"]
    assert (await client.post(app)).status_code == 405
    assert (await client.get("/assets/nope.js")).status_code == 404


async def test_names_that_stay_and_the_versioned_url_form(client, deployed):
    html = await client.get("/assets/index.html")
    assert html.headers["cache-control"] == "public, max-age=0, must-revalidate, s-maxage=3600"
    assert html.headers["cdn-cache-control"] == "max-age=3600"
    entry = deployed[1].files["js/app.js"]
    versioned = await client.get(entry.versioned_url)
    assert versioned.headers["cache-control"].endswith("immutable")
    unversioned = await client.get("/assets/js/app.js")
    assert "must-revalidate" in unversioned.headers["cache-control"]
    assert versioned.content == unversioned.content
    keys = versioned.headers["surrogate-key"].split()
    assert f"deploy-{deployed[1].deployment}" in keys
    assert versioned.headers["cache-tag"] == ",".join(keys)
    manifest = await client.get("/assets/manifest.json")
    assert manifest.json()["files"]["js/app.js"]["url"] == entry.url


async def test_large_files_are_streamed_from_disk(deployed, build):
    store, manifest = deployed
    streaming = Origin(store, ResourceTypes(), inline_max=0)
    streaming.reload()
    transport = httpx.ASGITransport(app=streaming)
    async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
        app = manifest.files["js/app.js"].url
        whole = (build / "js/app.js").read_bytes()
        response = await client.get(app, headers={"accept-encoding": "identity"})
        assert response.content == whole
        part = await client.get(app, headers={"accept-encoding": "identity", "range": "bytes=3-9"})
        assert part.content == whole[3:10]
    assert all(
        r.body is None for s in streaming.index.by_url.values() for r in s.representations.values()
    )


async def test_overlapping_ranges_are_merged_not_sent_twice(client, deployed, build):
    app = url(deployed, "js/app.js")
    whole = (build / "js/app.js").read_bytes()
    identity = {"accept-encoding": "identity"}
    copies = await client.get(app, headers={**identity, "range": "bytes=0-,0-,10-,-5"})
    assert copies.status_code == 206
    assert copies.headers["content-range"] == f"bytes 0-{len(whole) - 1}/{len(whole)}"
    assert copies.content == whole  # once, not four times
    two = await client.get(app, headers={**identity, "range": "bytes=20-40,0-10,5-25,60-70"})
    boundary = two.headers["content-type"].split("boundary=")[1].encode()
    parts = two.content.split(b"--" + boundary)[1:-1]
    assert [part.split(b"Content-Range: bytes ")[1].split(b"/")[0] for part in parts] == [
        b"0-40",
        b"60-70",
    ]
