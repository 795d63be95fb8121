"""Asynchronous jobs, reading them back (ETag, fields, cursors) and batch get.

No analysis service runs here: submitted jobs stay queued, which is all these
routes need. Completion is covered by the suite tests (tests/).
"""

from uuid import UUID

import nats

from revue.common.contracts.events import AnalysisCompleted, ErrorInfo, RunAnalysis
from revue.common.contracts.subjects import BusTopology

from .conftest import register

JOBS = "/api/v1/analyses"


async def submit(client, headers, code="x = 1\n", key=None, **extra):
    extra_headers = {"Idempotency-Key": key} if key else {}
    return await client.post(
        JOBS,
        json={"code": code, "language": "python", **extra},
        headers={**headers, **extra_headers},
    )


async def test_a_job_is_accepted_with_location_and_queued_on_jetstream(
    client, user, nats_url, bus_namespace
):
    response = await submit(client, user, priority="critical")
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"/api/v1/analyses/{body['id']}"
    assert body["status"] == "queued"
    connection = await nats.connect(nats_url)
    try:
        topology = BusTopology(bus_namespace)
        message = await connection.jetstream().get_last_msg(
            topology.stream("ANALYSIS_JOBS"), topology.job_subject("critical")
        )
    finally:
        await connection.drain()
    queued = RunAnalysis.model_validate_json(message.data)
    assert str(queued.job_id) == body["id"]
    assert queued.owner_id is not None
    view = await client.get(response.headers["location"], headers=user)
    assert view.json()["status"] == "queued"
    assert view.json()["priority"] == "critical"


async def test_the_same_idempotency_key_returns_the_same_job(client, user):
    first = await submit(client, user, key="order-7")
    again = await submit(client, user, key="order-7")
    assert first.json()["id"] == again.json()["id"]
    conflict = await submit(client, user, code="different = 2\n", key="order-7")
    assert conflict.status_code == 409
    other_user = await register(client)
    theirs = await submit(client, other_user, key="order-7")  # keys are per user
    assert theirs.json()["id"] != first.json()["id"]


async def test_etag_and_if_none_match(client, user):
    location = (await submit(client, user)).headers["location"]
    first = await client.get(location, headers=user)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await client.get(location, headers={**user, "If-None-Match": f'W/{etag}, "other"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"
    selected = await client.get(f"{location}?fields=id,status", headers=user)
    assert selected.json().keys() == {"id", "status"}
    assert selected.headers["etag"] != etag  # a different representation, a different tag


async def test_other_users_analyses_are_not_found(client, user):
    location = (await submit(client, user)).headers["location"]
    stranger = await register(client)
    assert (await client.get(location, headers=stranger)).status_code == 404


async def test_cursor_pagination_is_newest_first_without_gaps_or_repeats(client, user):
    created = [(await submit(client, user, code=f"v = {i}\n")).json()["id"] for i in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        query = f"{JOBS}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, headers=user)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))


async def test_batch_get_reports_each_item(client, user):
    mine = (await submit(client, user)).json()["id"]
    stranger = await register(client)
    theirs = (await submit(client, stranger)).json()["id"]
    missing = "00000000-0000-0000-0000-000000000000"
    response = await client.post(
        "/api/v1/batch/get",
        json={
            "resource_type": "analyses",
            "ids": [mine, theirs, missing, "bogus"],
            "fields": ["id", "status"],
        },
        headers=user,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["total_requested"], body["total_succeeded"], body["total_failed"]) == (4, 1, 3)
    by_id = {result["id"]: result for result in body["results"]}
    assert by_id[mine]["status_code"] == 200
    assert by_id[mine]["data"] == {"id": mine, "status": "queued"}
    assert by_id[theirs]["status_code"] == 404  # not 403: existence is not revealed
    assert by_id[missing]["status_code"] == 404
    assert by_id["bogus"]["status_code"] == 400
    assert body["processed_at"]


async def test_batch_get_limits(client, user):
    empty = await client.post(
        "/api/v1/batch/get", json={"resource_type": "analyses", "ids": []}, headers=user
    )
    too_many = await client.post(
        "/api/v1/batch/get",
        json={"resource_type": "analyses", "ids": [f"id-{i}" for i in range(101)]},
        headers=user,
    )
    wrong_type = await client.post(
        "/api/v1/batch/get", json={"resource_type": "users", "ids": ["x"]}, headers=user
    )
    assert empty.status_code == too_many.status_code == wrong_type.status_code == 422


async def test_several_completions_apply_in_one_statement_and_finished_jobs_stay(client, user):
    ids = [UUID((await submit(client, user, code=f"x = {i}\n")).json()["id"]) for i in range(3)]
    store = client.app.state.gateway.jobs
    error = ErrorInfo(code="provider_error", message="gave up", retryable=False)
    first = [
        AnalysisCompleted(job_id=ids[0], status="failed", error=error),
        AnalysisCompleted(job_id=ids[1], status="failed", error=error),
    ]
    assert await store.complete_many(first) == 2
    # A late duplicate for a finished job changes nothing; the open one finishes.
    again = [
        AnalysisCompleted(job_id=ids[0], status="failed", error=error),
        AnalysisCompleted(job_id=ids[2], status="failed", error=error),
    ]
    assert await store.complete_many(again) == 1
    statuses = [(await client.get(f"{JOBS}/{i}", headers=user)).json()["status"] for i in ids]
    assert statuses == ["failed", "failed", "failed"]
