"""Compression, security headers and CORS."""

from .conftest import serving


async def test_large_responses_are_compressed_by_accept_encoding(client):
    brotli = await client.get("/openapi.json", headers={"Accept-Encoding": "br"})
    gzip = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    plain = await client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert brotli.headers["content-encoding"] == "br"
    assert gzip.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert brotli.json() == gzip.json() == plain.json()  # httpx decodes both
    assert "accept-encoding" in brotli.headers["vary"].lower()


async def test_small_responses_are_not_compressed(client):
    response = await client.get("/healthz", headers={"Accept-Encoding": "br, gzip"})
    assert "content-encoding" not in response.headers


async def test_security_headers_on_every_response(client):
    for path in ("/healthz", "/api/v1/auth/me"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    docs = await client.get("/docs")
    assert "content-security-policy" not in docs.headers  # Swagger UI loads its scripts


async def test_cors_allows_only_configured_origins(gateway_settings):
    settings = gateway_settings(cors_origins=["https://app.example.com"])
    async with serving(settings) as client:
        allowed = await client.options(
            "/api/v1/analyze",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        denied = await client.options(
            "/api/v1/analyze",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in denied.headers
