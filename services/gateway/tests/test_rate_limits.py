"""Rate limits are shared by every gateway on one Redis, with the IETF headers."""

from starlette.datastructures import Headers

from .conftest import register, serving


async def test_two_gateways_share_one_limit(gateway_settings):
    settings = gateway_settings(rate_limit_per_minute=60, rate_limit_burst=5)
    async with serving(settings) as first, serving(settings) as second:
        headers = await register(first)
        answers = []
        for index in range(8):
            gateway = first if index % 2 == 0 else second
            answers.append(await gateway.get("/api/v1/auth/me", headers=headers))
    codes = [answer.status_code for answer in answers]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429, 429]
    ok, refused = answers[0], answers[5]
    assert ok.headers["ratelimit-policy"] == '"default";q=60;w=60'
    assert ok.headers["ratelimit"].startswith('"default";r=4;t=')
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit"].startswith('"default";r=0;')


async def test_anonymous_routes_are_limited_per_address(gateway_settings):
    settings = gateway_settings(rate_limit_anonymous_per_minute=60, rate_limit_anonymous_burst=3)
    async with serving(settings) as client:
        codes = [
            (
                await client.post(
                    "/api/v1/auth/token", json={"email": "a@example.com", "password": "Nope-1234"}
                )
            ).status_code
            for _ in range(5)
        ]
    assert codes == [401, 401, 401, 429, 429]


async def test_batch_routes_have_a_stricter_limit(gateway_settings):
    settings = gateway_settings(rate_limit_batch_per_minute=60, rate_limit_batch_burst=2)
    async with serving(settings) as client:
        headers = await register(client)
        body = {"resource_type": "analyses", "ids": ["00000000-0000-0000-0000-000000000000"]}
        codes = [
            (await client.post("/api/v1/batch/get", json=body, headers=headers)).status_code
            for _ in range(3)
        ]
        plain = await client.get("/api/v1/auth/me", headers=headers)
    assert codes == [200, 200, 429]
    assert plain.status_code == 200


async def test_rate_limiting_can_be_switched_off(gateway_settings):
    settings = gateway_settings(
        rate_limit_enabled=False, rate_limit_per_minute=1, rate_limit_burst=1
    )
    async with serving(settings) as client:
        headers = await register(client)
        codes = {
            (await client.get("/api/v1/auth/me", headers=headers)).status_code for _ in range(5)
        }
    assert codes == {200}


async def test_a_client_written_forwarded_for_does_not_escape_the_anonymous_limit(
    gateway_settings,
):
    settings = gateway_settings(
        trust_forwarded_for=True,
        rate_limit_anonymous_per_minute=60,
        rate_limit_anonymous_burst=2,
    )
    body = {"email": "a@example.com", "password": "Nope-1234"}
    async with serving(settings) as client:
        # One proxy in front: it appends the address it saw (198.51.100.9); the
        # client rotates what it writes in front of it.
        codes = [
            (
                await client.post(
                    "/api/v1/auth/token",
                    json=body,
                    headers={"X-Forwarded-For": f"10.0.0.{index}, 198.51.100.9"},
                )
            ).status_code
            for index in range(4)
        ]
        other = await client.post(
            "/api/v1/auth/token", json=body, headers={"X-Forwarded-For": "10.0.0.1, 198.51.100.10"}
        )
    assert codes == [401, 401, 429, 429]
    assert other.status_code == 401  # another real client has its own budget


async def test_two_trusted_proxies_count_the_address_two_from_the_right(gateway_settings):
    from revue.gateway.entrypoints.http.principal import client_address

    class Request:
        client = type("Peer", (), {"host": "192.0.2.1"})()

        def __init__(self, *values):
            self.headers = Headers(raw=[(b"x-forwarded-for", value.encode()) for value in values])

    assert client_address(Request("6.6.6.6, 203.0.113.5, 10.1.1.1"), 2) == "203.0.113.5"
    assert client_address(Request("6.6.6.6", "203.0.113.5, 10.1.1.1"), 2) == "203.0.113.5"
    assert client_address(Request("10.1.1.1"), 2) == "192.0.2.1"  # not through both proxies
    assert client_address(Request("6.6.6.6"), 0) == "192.0.2.1"
