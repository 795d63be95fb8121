"""The cache in the request path: the gateway answers repeats without NATS."""

from gateway_with_analysis import login, login_admin, running
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from revue.devkit.testing.waiting import wait_until

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
    ) as client:
        user = await login(client)
        admin = await login_admin(client, admin_email)
        body = {"code": CODE, "language": "python"}
        await client.post(ANALYZE, json=body, headers=user)

        async def copies() -> dict[str, int]:
            stats = (await client.get("/api/v1/cache/stats", headers=user)).json()
            return {holder["holder"]: holder["l1"]["size"] for holder in stats["holders"]}

        # No wait for the cache service to store the result from its completion event: an
        # invalidation before that store lands is not undone by it (cache/watermarks.py).
        refused = await client.post(
            "/api/v1/cache/invalidate", json={"prefixes": ["ai:analysis:"]}, headers=user
        )
        assert refused.status_code == 403
        done = await client.post(
            "/api/v1/cache/invalidate", json={"prefixes": ["ai:analysis:"]}, headers=admin
        )
        assert done.status_code == 200
        assert done.json()["removed"] >= 1

        # This process's copy goes at once; another holder's (the analysis service keeps
        # the results it computes) when the announcement reaches it over the bus.
        async def every_copy_dropped() -> bool:
            return all(size == 0 for size in (await copies()).values())

        await wait_until(every_copy_dropped, interval=0.1, message="every L1 copy dropped")
        await client.post(ANALYZE, json=body, headers=user)
        assert await analysis_requests(client, user) == 2  # recomputed after invalidation
        stats = (await client.get("/api/v1/cache/stats", headers=user)).json()
        gateway = [h for h in stats["holders"] if h["holder"].startswith("gateway-")]
        assert len(gateway) == 1 and gateway[0]["global"]["misses"] >= 1
        metrics = await client.get("/api/v1/metrics/cache", headers=user)
        assert metrics.status_code == 200
        assert "savings_estimate" in metrics.json()


def lane() -> int:
    """Hits answered in the gateway's cache-hit lane (from L1, without FastAPI's routing)."""
    return int(REGISTRY.get_sample_value("gateway_cache_lane_answers_total") or 0)


async def test_the_cache_hit_lane_answers_like_the_full_path(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        body = {"code": CODE, "language": "python", "rules": ["security"]}
        first = await client.post(ANALYZE, json=body, headers=user)
        before = lane()
        hit = await client.post(ANALYZE, json=body, headers=user)
        assert lane() == before + 1
        assert hit.status_code == 200
        assert hit.headers["content-type"] == "application/json"
        assert hit.headers["x-content-type-options"] == "nosniff"
        assert hit.headers["ratelimit"].startswith('"default";r=')
        first_view, hit_view = first.json(), hit.json()
        assert hit_view.keys() == first_view.keys()
        for same in ("status", "mode", "priority", "language", "result", "error"):
            assert hit_view[same] == first_view[same]
        assert hit_view["created_at"].endswith("Z") == first_view["created_at"].endswith("Z")

        async def recorded():
            stored = await client.get(f"/api/v1/analyses/{hit_view['id']}", headers=user)
            return stored if stored.status_code == 200 else None

        stored = await wait_until(recorded, timeout=10, message="the lane's answer recorded")
        assert stored.json()["result"] == first_view["result"]


async def test_everything_but_a_clean_hit_goes_to_the_full_app(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        body = {"code": CODE, "language": "python"}
        await client.post(ANALYZE, json=body, headers=user)
        before = lane()
        invalid = await client.post(ANALYZE, json={**body, "max_issues": 0}, headers=user)
        assert invalid.status_code == 422
        assert invalid.json()["errors"][0]["field"].endswith("max_issues")
        forged = await client.post(ANALYZE, json=body, headers={"Authorization": "Bearer x.y.z"})
        assert forged.status_code == 401
        key = await client.post("/api/v1/auth/api-keys", json={"name": "ci"}, headers=user)
        by_key = await client.post(ANALYZE, json=body, headers={"X-API-Key": key.json()["key"]})
        assert by_key.status_code == 200  # answered from the cache by the full path
        assert await analysis_requests(client, user) == 1
        assert lane() == before  # the full path answered all three


async def test_the_lane_enforces_the_rate_limit(make_settings, database_url):
    limits = {"rate_limit_per_minute": 1, "rate_limit_burst": 3}  # exactly 3, none refills
    async with running(make_settings, database_url, gateway_overrides=limits) as client:
        user = await login(client)
        body = {"code": CODE, "language": "python"}
        before = lane()
        statuses = [(await client.post(ANALYZE, json=body, headers=user)) for _ in range(5)]
        assert [response.status_code for response in statuses] == [200, 200, 200, 429, 429]
        refused = statuses[-1]
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert lane() == before + 2  # the two hits before the limit was reached


# Findings enough to make the cached answer larger than the compression threshold.
NOISY = "".join(f"def f{n}(x):\n    return eval(x)\n\n" for n in range(30))


async def test_the_lane_does_what_the_middleware_does_for_its_answers(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        app = client._transport.app
        exporter = InMemorySpanExporter()
        app.state.runtime.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        user = await login(client)
        body = {"code": NOISY, "language": "python"}
        first = await client.post(ANALYZE, json=body, headers=user)
        assert len(first.content) > 1000, "the answer must be worth compressing"
        registry = app.state.runtime.registry
        labels = {"method": "POST", "route": ANALYZE, "status": "200"}

        def answered() -> float:
            return registry.get_sample_value("http_requests_total", labels) or 0

        before, counted = lane(), answered()
        trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        hit = await client.post(
            ANALYZE,
            json=body,
            headers={
                **user,
                "Accept-Encoding": "gzip",
                "X-Request-ID": "client-chosen-id",
                "traceparent": f"00-{trace_id}-{parent_id}-01",
            },
        )
        assert lane() == before + 1
        assert hit.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in hit.headers["vary"].lower()
        assert hit.json()["result"] == first.json()["result"]  # httpx decodes gzip
        assert hit.headers["x-request-id"] == "client-chosen-id"
        assert hit.headers["content-security-policy"].startswith("default-src 'none'")
        assert answered() == counted + 1
        server = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER][-1]
        assert server.name == "POST /api/v1/analyze"
        assert format(server.context.trace_id, "032x") == trace_id
        assert format(server.parent.span_id, "016x") == parent_id
        assert server.attributes["http.route"] == ANALYZE
        assert server.attributes["http.response.status_code"] == 200
        plain = await client.post(
            ANALYZE, json=body, headers={**user, "Accept-Encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers
        assert len(plain.headers["x-request-id"]) == 32  # one of ours


async def test_cors_and_oversized_requests_are_left_to_the_full_app(make_settings, database_url):
    overrides = {"cors_origins": ["https://app.example.com"], "max_body_bytes": 2048}
    async with running(make_settings, database_url, gateway_overrides=overrides) as client:
        user = await login(client)
        body = {"code": CODE, "language": "python"}
        await client.post(ANALYZE, json=body, headers=user)
        before = lane()
        browser = await client.post(
            ANALYZE, json=body, headers={**user, "Origin": "https://app.example.com"}
        )
        assert browser.status_code == 200
        assert browser.headers["access-control-allow-origin"] == "https://app.example.com"
        too_big = await client.post(ANALYZE, json={**body, "code": "x = 1\n" * 1000}, headers=user)
        assert too_big.status_code == 413
        assert lane() == before  # both answered by the full app
