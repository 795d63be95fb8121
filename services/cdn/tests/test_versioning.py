"""Hashed names, CSS rewriting, cache policies and precompression."""

import gzip
import os

import brotli

from revue.cdn.compression import compress_variants
from revue.cdn.policy import CachePolicy, ResourceTypes
from revue.cdn.versioning import hashed_path, rewrite_css, versioned_url


def test_the_hash_goes_before_the_last_suffix():
    assert hashed_path("js/app.js", "3f2a9c1e0b7d99") == "js/app.3f2a9c1e0b7d.js"
    assert hashed_path("LICENSE", "3f2a9c1e0b7d99") == "LICENSE.3f2a9c1e0b7d"
    assert versioned_url("https://cdn.example.com/", "/static/js/app.js", "a1b2c3d4e5") == (
        "https://cdn.example.com/static/js/app.js?v=a1b2c3d4"
    )


def test_css_references_point_at_hashed_names_and_keep_their_tails():
    hashed = {"img/logo.png": "img/logo.abc.png", "css/base.css": "css/base.def.css"}
    css = (
        "a{background:url(../img/logo.png)} b{background:url('/img/logo.png?x=1#f')}"
        " c{background:url(data:image/png;base64,AAA)} d{background:url(missing.png)}"
        ' @import "base.css";'
    )
    out = rewrite_css(css, "css/site.css", hashed.get, mount="/assets/")
    assert "url(../img/logo.abc.png)" in out
    assert "url('/assets/img/logo.abc.png?x=1#f')" in out
    assert "data:image/png;base64,AAA" in out
    assert "url(missing.png)" in out
    assert '@import "base.def.css"' in out


def test_policies_follow_the_seed_table_and_can_be_overridden():
    types = ResourceTypes()
    assert types.of("a/app.js").policy.cache_control() == "public, max-age=31536000, immutable"
    assert types.of("font.woff2").policy.immutable
    assert types.of("logo.png").policy.cache_control() == "public, max-age=2592000"
    html = types.of("index.html")
    assert not html.hashed
    assert html.policy.cache_control() == "public, max-age=0, must-revalidate, s-maxage=3600"
    assert html.policy.cdn_cache_control() == "max-age=3600"
    custom = ResourceTypes({"image": CachePolicy(60, 120, False)})
    assert custom.of("logo.png").policy.cache_control() == "public, max-age=60"


def test_variants_are_kept_only_when_smaller_and_never_for_compressed_formats():
    text = b"export const x = 1;\n" * 500
    variants = compress_variants("app.js", text)
    assert set(variants) == {"br", "gzip"}
    assert brotli.decompress(variants["br"]) == text
    assert gzip.decompress(variants["gzip"]) == text
    assert len(variants["br"]) < len(variants["gzip"]) < len(text)
    assert compress_variants("photo.png", text) == {}
    assert compress_variants("tiny.js", b"x") == {}
    noise = os.urandom(4096)  # incompressible: no variant beats it
    assert compress_variants("noise.js", noise) == {}


def test_reingesting_an_unchanged_tree_compresses_only_what_it_rewrites(tmp_path, monkeypatch):
    from revue.cdn import ingest
    from revue.cdn.adapters.asset_store import AssetStore
    from revue.cdn.ingest import ingest_directory
    from revue.cdn.policy import ResourceTypes

    from .conftest import write_build

    build, store = write_build(tmp_path / "build"), AssetStore(tmp_path / "store")
    first, _ = ingest_directory(build, store, ResourceTypes())
    compressed = []
    real = ingest.compress_variants

    def counting(path, data, levels=None):
        compressed.append(path)
        return real(path, data, levels)

    monkeypatch.setattr(ingest, "compress_variants", counting)
    progress = []
    second, changed = ingest_directory(
        build, store, ResourceTypes(), progress=lambda *step: progress.append(step)
    )
    assert changed == []
    # Stylesheets are rewritten (and so compressed) every time; HTML keeps its name.
    assert sorted(compressed) == ["css/base.css", "css/site.css", "index.html"]
    assert second.files["js/app.js"].encodings == first.files["js/app.js"].encodings
    assert progress[-1][:2] == (2 * len(first.files), 2 * len(first.files))
