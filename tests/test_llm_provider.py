"""A language model behind the whole path: gateway -> NATS -> analysis -> provider.

The provider is the hosted-model simulator (a STAND-IN for a hosted API: an outage
and prices are what it shows here); the fallback is the real builtin analyzer.
"""

import pytest
from gateway_with_analysis import login, login_admin, running

from revue.devkit.standins.hosted_model import HostedModelSimulator
from revue.devkit.testing.waiting import wait_until

PRICE = {"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}}


@pytest.fixture
def simulator():
    with HostedModelSimulator() as running_simulator:
        yield running_simulator


def llm(simulator, **extra):
    return {
        "provider": "openai",
        "openai_base_url": simulator.base_url,
        "openai_model": "gpt-4o-mini",
        "llm_prices": PRICE,
        "retry_initial_delay": 0.01,
        "retry_max_delay": 0.05,
        **extra,
    }


def code(index: int) -> str:
    return f"def handler_{index}(payload):\n    return eval(payload)\n"


async def test_clients_see_no_5xx_when_the_model_is_down_and_builtin_is_the_fallback(
    make_settings, database_url, simulator
):
    simulator.script.down = True
    overrides = llm(simulator, provider_fallbacks=["builtin"], breaker_failure_threshold=3)
    async with running(make_settings, database_url, analysis_overrides=overrides) as client:
        user = await login(client)
        statuses, analyzers = [], set()
        for index in range(12):
            answer = await client.post(
                "/api/v1/analyze", json={"code": code(index), "language": "python"}, headers=user
            )
            statuses.append(answer.status_code)
            analyzers.add(answer.json()["result"]["analyzer"])
    assert statuses == [200] * 12
    assert analyzers == {"revue-builtin"}
    assert 0 < simulator.script.faults_given < 12 * 3  # the open circuit stopped the calls


async def test_usage_is_each_callers_own_priced_and_a_cached_repeat_costs_nothing(
    make_settings, database_url, simulator
):
    async with running(make_settings, database_url, analysis_overrides=llm(simulator)) as client:
        ada, bob = await login(client), await login(client)
        admin = await login_admin(client, "usage-admin@example.com")
        for index in range(3):
            body = {"code": code(index), "language": "python"}
            assert (await client.post("/api/v1/analyze", json=body, headers=ada)).status_code == 200
        repeat = {"code": code(0), "language": "python"}
        assert (await client.post("/api/v1/analyze", json=repeat, headers=bob)).status_code == 200
        body = {"code": code(99), "language": "python"}
        assert (await client.post("/api/v1/analyze", json=body, headers=bob)).status_code == 200

        async def reports() -> tuple[dict, dict] | None:
            ada_s = (await client.get("/api/v1/usage", headers=ada)).json()
            bob_s = (await client.get("/api/v1/usage", headers=bob)).json()
            recorded = ada_s["total"]["prompt_tokens"] + bob_s["total"]["prompt_tokens"]
            every_call = sum(u["prompt_tokens"] for u in simulator.script.usages)
            return (ada_s, bob_s) if recorded == every_call else None

        # Outcomes are recorded in the background, group-committed: the reports follow,
        # complete once every call the model answered is in them.
        mine, theirs = await wait_until(reports, message="every call in the usage reports")
        refused = await client.get("/api/v1/usage?user=usage-admin@example.com", headers=ada)
        me = (await client.get("/api/v1/auth/me", headers=ada)).json()["email"]
        as_admin = (await client.get(f"/api/v1/usage?user={me}", headers=admin)).json()
    assert mine["total"]["analyses"] == 3 and theirs["total"]["analyses"] == 1  # not the repeat
    assert mine["total"]["cost_usd"] > 0
    assert mine["total"]["calls"] + theirs["total"]["calls"] == pytest.approx(
        len(simulator.script.usages), abs=0.01
    )
    assert refused.status_code == 403
    assert as_admin["total"] == mine["total"]
