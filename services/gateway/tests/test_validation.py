"""Bad input gets the one error shape, never a 500; size limits hold while reading."""

import pytest

ANALYZE = "/api/v1/analyze"


def assert_validation_error(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "Validation failed"
    assert body["code"] == "validation_error"
    fields = [error["field"] for error in body["errors"]]
    assert field in fields, fields
    assert all({"field", "message", "type"} == set(error) for error in body["errors"])
    return next(error for error in body["errors"] if error["field"] == field)


async def test_malformed_json_is_a_422_in_the_one_shape(client, user):
    response = await client.post(
        ANALYZE, content=b'{"code": "x",', headers={**user, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_unknown_language_names_the_supported_ones(client, user):
    response = await client.post(ANALYZE, json={"code": "x", "language": "cobol"}, headers=user)
    error = assert_validation_error(response, "language")
    assert "python" in error["message"]
    assert "typescript" in error["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code": "", "language": "python"}, "code"),
        ({"code": "x" * 1_000_001, "language": "python"}, "code"),
        ({"code": "x", "language": "python", "max_issues": 0}, "max_issues"),
        ({"code": "x", "language": "python", "max_issues": 1001}, "max_issues"),
        ({"code": "x", "language": "python", "timeout": 301}, "timeout"),
        ({"code": "x", "language": "python", "timeout": 0.5}, "timeout"),
        ({"code": "x", "language": "python", "rules": ["style"]}, "rules.0"),
        ({"code": "x", "language": "python", "metadata": {"k": "a\x00b"}}, "metadata.k"),
        (
            {"code": "x", "language": "python", "metadata": {"path": "../../etc/passwd"}},
            "metadata.path",
        ),
        ({"code": "x", "language": "python", "surprise": 1}, "surprise"),
    ],
)
async def test_limits_are_enforced_and_named(client, user, payload, field):
    assert_validation_error(await client.post(ANALYZE, json=payload, headers=user), field)


async def test_a_declared_oversized_body_is_refused_before_reading(client, user):
    response = await client.post(
        ANALYZE,
        content=b"{}",
        headers={**user, "Content-Type": "application/json", "Content-Length": str(13 * 2**20)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_a_streamed_oversized_body_is_cut_off_at_the_limit(client, user):
    sent = 0

    async def body():
        nonlocal sent
        chunk = b"x" * 2**20
        for _ in range(64):  # would be 64 MiB
            sent += len(chunk)
            yield chunk

    response = await client.post(
        ANALYZE, content=body(), headers={**user, "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert sent <= 14 * 2**20  # stopped near the 12 MiB limit, not at 64 MiB


async def test_bad_idempotency_keys_and_ids_are_422_not_500(client, user):
    bad_key = await client.post(
        "/api/v1/analyses",
        json={"code": "x", "language": "python"},
        headers={**user, "Idempotency-Key": "has spaces"},
    )
    assert bad_key.status_code == 422
    bad_id = await client.get("/api/v1/analyses/not-a-uuid", headers=user)
    assert bad_id.status_code == 422
    bad_cursor = await client.get("/api/v1/analyses?cursor=%%%", headers=user)
    assert bad_cursor.status_code == 422
    bad_fields = await client.get("/api/v1/analyses?fields=password", headers=user)
    assert bad_fields.status_code == 422


async def test_validation_errors_are_labelled_by_route_template_not_raw_path(client, user):
    from revue.gateway.errors import validation_errors_total

    def series() -> set[tuple[str, ...]]:
        return {
            tuple(sample.labels.values())
            for metric in validation_errors_total.collect()
            for sample in metric.samples
            if sample.name == "validation_errors_total"
        }

    before = series()
    for index in range(500):
        await client.get(f"/api/v1/analyses/not-an-id-{index}", headers=user)
        await client.post(
            ANALYZE, json={"code": "x", "language": "c", f"k{index}": 1}, headers=user
        )
    added = series() - before
    assert added <= {
        ("/api/v1/analyses/{analysis_id}", "analysis_id"),
        ("/api/v1/analyze", "(unknown field)"),
    }, sorted(added)[:5]


async def test_the_schema_and_the_server_agree_on_what_is_accepted(client, user):
    options = await client.options("/api/v1/analyses", headers=user)
    assert options.status_code == 405
    assert set(options.headers["allow"].split(", ")) >= {"GET", "POST"}
    parallel = await client.post(
        "/api/v1/batch/analyze",
        json={"requests": [{"code": "x", "language": "c"}], "parallel": 0},
        headers=user,
    )
    assert parallel.status_code == 422  # a boolean, as documented; not 0
    c1 = await client.post("/api/v1/auth/api-keys", json={"name": "ci\x85key"}, headers=user)
    assert c1.status_code == 422
    schema = client.app.openapi()["components"]["schemas"]
    assert "\\x7f-\\x9f" in schema["ApiKeyRequest"]["properties"]["name"]["pattern"]
    # Any cursor of the documented shape is a position: never issued, it is still a page.
    page = await client.get(f"/api/v1/analyses?cursor=1700000000000000-{'0' * 32}", headers=user)
    assert page.status_code == 200 and page.json()["items"] == []
    fields = await client.get("/api/v1/analyses?fields=id,bogus", headers=user)
    assert fields.status_code == 422


async def test_a_deployment_may_lower_the_batch_limits_and_the_error_names_the_setting(
    gateway_settings,
):
    from .conftest import register, serving

    settings = gateway_settings(batch_max_items=2, batch_max_code_bytes=100, batch_get_max_ids=3)
    async with serving(settings) as client:
        user = await register(client)
        items = [{"code": "x = 1", "language": "python"} for _ in range(3)]
        too_many = await client.post(
            "/api/v1/batch/analyze", json={"requests": items}, headers=user
        )
        assert too_many.status_code == 422
        assert "BATCH_MAX_ITEMS" in too_many.json()["errors"][0]["message"]
        big = [{"code": "x" * 60, "language": "python"} for _ in range(2)]
        too_big = await client.post("/api/v1/batch/analyze", json={"requests": big}, headers=user)
        assert too_big.status_code == 422
        assert "BATCH_MAX_CODE_BYTES" in too_big.json()["errors"][0]["message"]
        ids = {"resource_type": "analyses", "ids": [str(index) for index in range(4)]}
        too_many_ids = await client.post("/api/v1/batch/get", json=ids, headers=user)
        assert too_many_ids.status_code == 422
        assert "BATCH_GET_MAX_IDS" in too_many_ids.json()["errors"][0]["message"]
        ids["ids"] = ids["ids"][:3]
        within = await client.post("/api/v1/batch/get", json=ids, headers=user)
        assert within.status_code == 200
