"""Every route but the public ones answers 401 without valid credentials."""

import re

PUBLIC = {
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/logout"),  # the refresh token in the body is the credential
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/cdn/manifest"),  # lists public files, like the origin's manifest.json
}
SAMPLE = "00000000-0000-0000-0000-000000000000"


def protected_routes(app) -> list[tuple[str, str]]:
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if (method.upper(), path) not in PUBLIC:
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", SAMPLE, path)))
    return routes


async def test_every_protected_route_demands_credentials(client):
    routes = protected_routes(client.app)
    assert len(routes) >= 11
    for credentials in ({}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "rvk_bad"}):
        for method, path in routes:
            response = await client.request(method, path, headers=credentials, json={})
            assert response.status_code == 401, (method, path, credentials, response.text)
            assert response.json()["code"] == "unauthenticated"
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_public_routes_and_docs_need_no_credentials(client):
    for path in ("/healthz", "/docs", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path
    # Public, so no 401: without a cdn service behind it the answer is 503.
    assert (await client.get("/api/v1/cdn/manifest")).status_code == 503
