"""Gateway and analysis service together: analyze, jobs, batch, and their failures."""

import asyncio

import nats
from gateway_with_analysis import DelayedProvider, gateway_of, login, running

from revue.common.contracts.events import AnalysisReply, AnalysisResult, Finding, RunAnalysis
from revue.common.contracts.subjects import BusTopology
from revue.devkit.testing.waiting import wait_until

CODE = "import os\n\ndef run(cmd):\n    os.system(cmd)\n"


async def test_analyze_returns_findings_and_the_analysis_can_be_read_back(
    make_settings, database_url
):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        response = await client.post(
            "/api/v1/analyze", json={"code": CODE, "language": "python"}, headers=user
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded"
        assert "S605" in {finding["rule_id"] for finding in body["result"]["findings"]}

        async def stored():
            found = await client.get(f"/api/v1/analyses/{body['id']}", headers=user)
            return found if found.status_code == 200 else None

        found = await wait_until(stored, timeout=10, message="sync analysis recorded")
        assert found.json()["result"] == body["result"]
        assert found.json()["mode"] == "sync"


async def test_a_job_completes_and_its_status_follows(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        accepted = await client.post(
            "/api/v1/analyses",
            json={"code": CODE, "language": "python", "priority": "high"},
            headers={**user, "Idempotency-Key": "job-1"},
        )
        assert accepted.status_code == 202
        location = accepted.headers["location"]

        async def finished():
            view = (await client.get(location, headers=user)).json()
            return view if view["status"] != "queued" else None

        view = await wait_until(finished, timeout=20, message="job finished")
        assert view["status"] == "succeeded"
        assert view["result"]["findings"]


async def test_no_analysis_service_is_503_with_retry_after(make_settings, database_url):
    async with running(make_settings, database_url, analysis=False) as client:
        user = await login(client)
        response = await client.post(
            "/api/v1/analyze", json={"code": CODE, "language": "python"}, headers=user
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "unavailable"


PYTHON = {"language": "python"}


async def analyze(client, user: dict[str, str], code: str):
    return await client.post("/api/v1/analyze", json={"code": code, **PYTHON}, headers=user)


GROUPED = {"analysis_groups_in_flight": 1, "analysis_group_hold": 1, "cache_enabled": False}


async def test_concurrent_requests_travel_grouped_and_each_gets_its_own_answer(
    make_settings, database_url
):
    codes = [
        f"import os\n\ndef run{i}(cmd):\n    os.system(cmd)\n" if i % 2 else f"x{i} = {i}\n"
        for i in range(24)
    ]
    async with running(make_settings, database_url, gateway_overrides=GROUPED) as client:
        user = await login(client)
        answers = await asyncio.gather(*(analyze(client, user, code) for code in codes))
        groups = gateway_of(client).analysis.groups
    for i, answer in enumerate(answers):
        assert answer.status_code == 200, answer.text
        rules = {finding["rule_id"] for finding in answer.json()["result"]["findings"]}
        assert ("S605" in rules) == bool(i % 2), (i, rules)
    # The first went alone; the others queued behind it and left in groups.
    assert groups.items_sent == len(codes)
    assert groups.groups_sent < len(codes) // 2


async def test_no_analysis_service_is_503_for_grouped_requests_too(make_settings, database_url):
    async with running(
        make_settings, database_url, analysis=False, gateway_overrides=GROUPED
    ) as client:
        user = await login(client)
        answers = await asyncio.gather(*(analyze(client, user, f"x = {i}\n") for i in range(10)))
        groups = gateway_of(client).analysis.groups
    assert [a.status_code for a in answers] == [503] * 10
    assert all(a.headers["retry-after"] == "5" for a in answers)
    assert groups.groups_sent < 10


async def test_an_analysis_service_without_batches_still_answers_grouped_requests(
    make_settings, database_url, nats_url, bus_namespace
):
    """During a rolling upgrade an older analysis service takes only `analysis.run`."""
    old_service = await nats.connect(nats_url)
    answered: list[str] = []

    async def answer(message) -> None:
        request = RunAnalysis.model_validate_json(message.data)
        answered.append(request.code)
        result = AnalysisResult(analyzer="old", analyzer_version="1", language="python")
        reply = AnalysisReply(job_id=request.job_id, status="succeeded", result=result)
        await old_service.publish(message.reply, reply.model_dump_json().encode())

    await old_service.subscribe(
        BusTopology(bus_namespace).subject("analysis.run"), queue="analysis", cb=answer
    )
    try:
        async with running(
            make_settings, database_url, analysis=False, gateway_overrides=GROUPED
        ) as client:
            user = await login(client)
            answers = await asyncio.gather(
                *(analyze(client, user, f"x = {i}\n") for i in range(10))
            )
            groups = gateway_of(client).analysis.groups
    finally:
        await old_service.drain()
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(answered) == sorted(f"x = {i}\n" for i in range(10))
    assert groups.groups_sent < 10  # they did leave in groups, and came back alone


class VerboseProvider:
    """Answers every item with 1,000 findings of 1,500-character messages (> 1 MB of JSON)."""

    name, version, model = "verbose", "1", None
    items_per_call = calls_per_minute = None

    async def analyze_batch(self, items):
        finding = Finding(rule_id="X1", severity="low", line=1, column=0, message="m" * 1500)
        return [
            AnalysisResult(
                analyzer="verbose",
                analyzer_version="1",
                language=i.language,
                findings=[finding] * 1000,
            )
            for i in items
        ]

    async def aclose(self) -> None:
        """Nothing to release."""


async def test_a_result_too_large_for_the_bus_is_a_clear_422(make_settings, database_url):
    async with running(
        make_settings, database_url, provider=VerboseProvider(), gateway_overrides=GROUPED
    ) as client:
        user = await login(client)
        alone = await analyze(client, user, "x = 1\n")
        grouped = await asyncio.gather(*(analyze(client, user, f"x = {i}\n") for i in range(6)))
    for response in (alone, *grouped):
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "reply_too_large"
        assert "larger than the bus" in response.json()["detail"]


async def test_code_that_does_not_fit_a_bus_message_is_413_not_a_crash(make_settings, database_url):
    # Within the API's 1,000,000 characters, but every quote is escaped on the
    # bus: 2 MB of JSON against NATS's 1 MB message limit.
    code = '"' * 1_000_000
    async with running(make_settings, database_url) as client:
        user = await login(client)
        response = await analyze(client, user, code)
        assert response.status_code == 413, response.text
        assert "bus" in response.json()["detail"]
        fine = await analyze(client, user, "x = 1\n")
        assert fine.status_code == 200


async def test_an_analysis_slower_than_its_timeout_is_504(make_settings, database_url):
    provider = DelayedProvider(delay=4)
    async with running(
        make_settings,
        database_url,
        provider=provider,
        gateway_overrides={"analysis_timeout_margin": 0.5},
    ) as client:
        user = await login(client)
        response = await client.post(
            "/api/v1/analyze",
            json={"code": CODE, "language": "python", "timeout": 1},
            headers=user,
        )
    assert response.status_code == 504
    assert response.json()["code"] == "timeout"


async def test_a_failing_provider_opens_the_circuit_and_clients_get_503_retry_after(
    make_settings, database_url
):
    provider = DelayedProvider(delay=0, fail=True)
    overrides = {
        "retry_max_attempts": 1,
        "breaker_failure_threshold": 2,
        "breaker_recovery_timeout": 30,
    }
    async with running(
        make_settings, database_url, provider=provider, analysis_overrides=overrides
    ) as client:
        user = await login(client)
        answers = [
            await client.post(
                "/api/v1/analyze",
                json={"code": f"{CODE}# {i}\n", "language": "python"},
                headers=user,
            )
            for i in range(3)
        ]
    assert [answer.status_code for answer in answers] == [503, 503, 503]
    assert answers[-1].json()["code"] == "circuit_open"
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 30


async def test_batch_analyze_reports_partial_success(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        items = [
            {"id": "ok", "code": CODE, "language": "python"},
            {"id": "js", "code": "eval(x)\n", "language": "javascript"},
        ]
        for parallel in (True, False):
            response = await client.post(
                "/api/v1/batch/analyze",
                json={"requests": items, "parallel": parallel},
                headers=user,
            )
            assert response.status_code == 200
            body = response.json()
            assert [result["id"] for result in body["results"]] == ["ok", "js"]
            assert body["total_succeeded"] == 2
        too_big = await client.post(
            "/api/v1/batch/analyze",
            json={"requests": [{"code": "x" * 900_000, "language": "python"}] * 12},
            headers=user,
        )
        assert too_big.status_code == 422
        assert "10485760" in too_big.json()["errors"][0]["message"]
        too_many = await client.post(
            "/api/v1/batch/analyze",
            json={"requests": [{"code": "x", "language": "python"}] * 51},
            headers=user,
        )
        assert too_many.status_code == 422


async def test_batch_items_fail_alone(make_settings, database_url):
    provider = DelayedProvider(delay=2)
    async with running(
        make_settings,
        database_url,
        provider=provider,
        gateway_overrides={"analysis_timeout_margin": 0.2},
    ) as client:
        user = await login(client)
        response = await client.post(
            "/api/v1/batch/analyze",
            json={
                "requests": [
                    {"id": "patient", "code": CODE, "language": "python", "timeout": 10},
                    {"id": "hasty", "code": CODE + "\n", "language": "python", "timeout": 1},
                ]
            },
            headers=user,
        )
    body = response.json()
    by_id = {result["id"]: result for result in body["results"]}
    assert by_id["patient"]["status_code"] == 200
    assert by_id["hasty"]["status_code"] == 504
    assert (body["total_succeeded"], body["total_failed"]) == (1, 1)


async def test_async_processing_switched_off_still_answers(make_settings, database_url):
    async with running(
        make_settings, database_url, gateway_overrides={"async_processing_enabled": False}
    ) as client:
        user = await login(client)
        accepted = await client.post(
            "/api/v1/analyses", json={"code": CODE, "language": "python"}, headers=user
        )
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "succeeded"
        view = (await client.get(accepted.headers["location"], headers=user)).json()
        assert view["result"]["findings"]


async def test_the_seed_metric_endpoints(make_settings, database_url):
    async with running(make_settings, database_url) as client:
        user = await login(client)
        await client.post(
            "/api/v1/analyze", json={"code": CODE, "language": "python"}, headers=user
        )
        batching = (await client.get("/api/v1/metrics/batching", headers=user)).json()
        pool = (await client.get("/api/v1/metrics/database-pool", headers=user)).json()
        cache = await client.get("/api/v1/metrics/cache", headers=user)
    assert batching["ai_analysis"]["total_requests"] >= 1
    assert pool["size"] == 20
    # No cache service here: the gateway and the analysis service hold the cache and answer.
    assert cache.status_code == 200
    figures = cache.json()
    assert {"hits", "misses", "total_requests", "hit_rate_percent", "enabled"} <= figures.keys()
    holders = {holder["holder"].split("-")[0] for holder in figures["holders"]}
    assert holders == {"gateway", "analysis"}


async def test_figures_come_from_every_replica_not_the_one_a_queue_group_picks(
    make_settings, database_url
):
    async with running(
        make_settings, database_url, analysis_replicas=2, cache_service=True
    ) as client:
        user = await login(client)
        for index in range(8):
            code = f"import os\n\ndef f{index}(x):\n    return eval(x)\n"
            answer = await client.post(
                "/api/v1/analyze", json={"code": code, "language": "python"}, headers=user
            )
            assert answer.status_code == 200
        batching = (await client.get("/api/v1/metrics/batching", headers=user)).json()
        cache = (await client.get("/api/v1/metrics/cache", headers=user)).json()
    replicas = batching["replicas"]
    assert len(replicas) == 2
    per_replica = [r["batching"]["ai_analysis"]["total_requests"] for r in replicas]
    assert batching["ai_analysis"]["total_requests"] == sum(per_replica) == 8
    kinds = sorted(holder["holder"].split("-")[0] for holder in cache["holders"])
    assert kinds == ["analysis", "analysis", "cache", "gateway"]
    assert cache["total_requests"] == cache["hits"] + cache["misses"]
    assert cache["misses"] == sum(holder["global"]["misses"] for holder in cache["holders"])
