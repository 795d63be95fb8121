"""The cache in the request path: the gateway answers repeats without NATS."""

from gateway_with_analysis import login, running

CODE = "import pickle\n\ndef load(blob):\n    return pickle.loads(blob)\n"
ANALYZE = "/api/v1/analyze"


async def analysis_requests(client, user) -> int:
    stats = (await client.get("/api/v1/metrics/batching", headers=user)).json()
    return stats["ai_analysis"]["total_requests"]


async def test_a_repeat_is_answered_by_the_gateway_cache(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        body = {"code": CODE, "language": "python"}
        first = await client.post(ANALYZE, json=body, headers=user)
        assert first.status_code == 200
        assert await analysis_requests(client, user) == 1
        for _ in range(3):
            again = await client.post(ANALYZE, json=body, headers=user)
            assert again.status_code == 200
            assert again.json()["result"] == first.json()["result"]
            assert again.json()["id"] != first.json()["id"]  # a new analysis record each time
        assert await analysis_requests(client, user) == 1  # the analysis service saw one
        stats = client._transport.app.state.gateway.cache.get_stats()
        assert stats["global"]["hits"] == 3


async def test_any_output_affecting_parameter_misses_the_cache(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        base = {"code": CODE, "language": "python"}
        await client.post(ANALYZE, json=base, headers=user)
        for variant in (
            {**base, "max_issues": 5},
            {**base, "rules": ["security"]},
            {**base, "code": CODE + "\n"},
        ):
            assert (await client.post(ANALYZE, json=variant, headers=user)).status_code == 200
        assert await analysis_requests(client, user) == 4


async def test_admins_invalidate_and_others_may_not(make_settings, database_url):
    admin_email = "root@example.com"
    async with running(
        make_settings,
        database_url,
        cache_service=True,
        gateway_overrides={"admin_emails": [admin_email]},
    ) as client:
        user = await login(client)
        admin = await login(client, admin_email)
        body = {"code": CODE, "language": "python"}
        await client.post(ANALYZE, json=body, headers=user)
        refused = await client.post(
            "/api/v1/cache/invalidate", json={"prefixes": ["ai:analysis:"]}, headers=user
        )
        assert refused.status_code == 403
        done = await client.post(
            "/api/v1/cache/invalidate", json={"prefixes": ["ai:analysis:"]}, headers=admin
        )
        assert done.status_code == 200
        assert done.json()["removed"] >= 1
        await client.post(ANALYZE, json=body, headers=user)
        assert await analysis_requests(client, user) == 2  # recomputed after invalidation
        stats = (await client.get("/api/v1/cache/stats", headers=user)).json()
        assert {"service", "gateway"} <= stats.keys()
        assert stats["gateway"]["global"]["misses"] >= 1
        metrics = await client.get("/api/v1/metrics/cache", headers=user)
        assert metrics.status_code == 200
        assert "savings_estimate" in metrics.json()
