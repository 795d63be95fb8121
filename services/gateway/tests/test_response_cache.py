"""GET responses are cached, and a job's change invalidates them on every gateway."""

import uuid

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from revue.common.contracts.events import AnalysisCompleted, AnalysisResult
from revue.common.contracts.subjects import BusTopology
from revue.devkit.testing.waiting import wait_until

from .conftest import register, serving


async def test_cached_views_survive_a_change_behind_the_apps_back(client, user, gateway_database):
    accepted = await client.post(
        "/api/v1/analyses", json={"code": "x = 1\n", "language": "python"}, headers=user
    )
    location = accepted.headers["location"]
    first = await client.get(location, headers=user)
    engine = create_async_engine(gateway_database)
    async with engine.begin() as connection:  # not through the app: no invalidation
        await connection.execute(
            text("UPDATE jobs SET language = 'go' WHERE id = :id"), {"id": accepted.json()["id"]}
        )
    await engine.dispose()
    again = await client.get(location, headers=user)
    assert again.json()["language"] == "python"  # served from the response cache
    assert again.headers["etag"] == first.headers["etag"]
    not_modified = await client.get(
        location, headers={**user, "If-None-Match": first.headers["etag"]}
    )
    assert not_modified.status_code == 304


async def test_a_completion_invalidates_views_on_every_gateway(
    gateway_settings, nats_url, bus_namespace
):
    settings = gateway_settings()
    async with serving(settings) as first, serving(settings) as second:
        headers = await register(first)
        accepted = await first.post(
            "/api/v1/analyses", json={"code": "x = 1\n", "language": "python"}, headers=headers
        )
        job_id, location = accepted.json()["id"], accepted.headers["location"]
        for gateway in (first, second):  # both now hold the "queued" view
            assert (await gateway.get(location, headers=headers)).json()["status"] == "queued"
        listed = await second.get("/api/v1/analyses", headers=headers)
        assert listed.json()["items"][0]["status"] == "queued"

        owner = (await first.get("/api/v1/auth/me", headers=headers)).json()["id"]
        event = AnalysisCompleted(
            job_id=uuid.UUID(job_id),
            owner_id=owner,
            status="succeeded",
            result=AnalysisResult(
                analyzer="revue-builtin", analyzer_version="1", language="python"
            ),
        )
        connection = await nats.connect(nats_url)
        try:
            topology = BusTopology(bus_namespace)
            await connection.jetstream().publish(
                topology.subject("analysis.completed.job"), event.model_dump_json().encode()
            )
        finally:
            await connection.drain()

        for gateway in (first, second):

            async def fresh(gateway=gateway) -> bool:
                view = await gateway.get(location, headers=headers)
                return view.json()["status"] == "succeeded"

            await wait_until(fresh, timeout=10, message="view invalidated")
        listed = await second.get("/api/v1/analyses", headers=headers)
        assert listed.json()["items"][0]["status"] == "succeeded"
