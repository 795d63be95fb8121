"""Registration, tokens and API keys against real PostgreSQL."""

import os
import uuid

import pytest

from .conftest import PASSWORD, register, serving


async def test_registration_lower_cases_the_email_and_hides_the_hash(client):
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "Ada.Lovelace@Example.COM",
            "password": PASSWORD,
            "full_name": "Ada Lovelace",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada.lovelace@example.com"
    assert set(body) == {"id", "email", "full_name", "is_admin"}


async def test_the_same_email_cannot_register_twice(client):
    payload = {"email": "twice@example.com", "password": PASSWORD, "full_name": "Twice"}
    assert (await client.post("/api/v1/auth/register", json=payload)).status_code == 201
    again = await client.post(
        "/api/v1/auth/register", json={**payload, "email": "TWICE@example.com"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short1A", "at least 8 characters"),
        ("alllowercase1", "an uppercase letter"),
        ("ALLUPPERCASE1", "a lowercase letter"),
        ("NoDigitsHere", "a digit"),
        ("Password123", "too common"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(client, password, says):
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "weak@example.com", "password": password, "full_name": "Weak"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "password"
    assert says in error["message"]


@pytest.mark.parametrize("name", ["R2-D2", "Robert'); DROP TABLE users;--", "", "Ada\nLovelace"])
async def test_implausible_names_are_refused(client, name):
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "name@example.com", "password": PASSWORD, "full_name": name},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "full_name"


async def test_password_login_refresh_and_wrong_password(client):
    await register(client, "login@example.com")
    wrong = await client.post(
        "/api/v1/auth/token", json={"email": "login@example.com", "password": "Wrong-Password-1"}
    )
    assert wrong.status_code == 401
    unknown = await client.post(
        "/api/v1/auth/token", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]  # no account enumeration
    tokens = (
        await client.post(
            "/api/v1/auth/token", json={"email": "login@example.com", "password": PASSWORD}
        )
    ).json()
    assert tokens["token_type"] == "bearer"
    refreshed = await client.post(
        "/api/v1/auth/token", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.headers["cache-control"] == "no-store"
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert me.json()["email"] == "login@example.com"


async def test_token_kinds_cannot_be_swapped(client):
    await register(client, "kinds@example.com")
    tokens = (
        await client.post(
            "/api/v1/auth/token", json={"email": "kinds@example.com", "password": PASSWORD}
        )
    ).json()
    as_refresh = await client.post(
        "/api/v1/auth/token", json={"refresh_token": tokens["access_token"]}
    )
    assert as_refresh.status_code == 401
    as_access = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert as_access.status_code == 401


async def test_api_keys_are_shown_once_work_both_ways_and_can_be_revoked(client, user):
    created = await client.post("/api/v1/auth/api-keys", json={"name": "ci"}, headers=user)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("rvk_")
    listed = (await client.get("/api/v1/auth/api-keys", headers=user)).json()
    assert [entry["name"] for entry in listed] == ["ci"]
    assert "key" not in listed[0]
    by_header = await client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    by_bearer = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert by_header.status_code == by_bearer.status_code == 200
    tampered = key[:-2] + ("aa" if not key.endswith("aa") else "bb")
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": tampered})).status_code == 401
    revoked = await client.delete(f"/api/v1/auth/api-keys/{created.json()['id']}", headers=user)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401


async def test_a_user_cannot_revoke_another_users_key(client, user):
    created = (
        await client.post("/api/v1/auth/api-keys", json={"name": "mine"}, headers=user)
    ).json()
    other = await register(client)
    response = await client.delete(f"/api/v1/auth/api-keys/{created['id']}", headers=other)
    assert response.status_code == 404


async def tokens_for(client) -> dict:
    email = f"rot-{uuid.uuid4().hex[:8]}@example.com"
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Rota Tion"},
    )
    assert registered.status_code == 201
    answer = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    return {**answer.json(), "email": email}


async def refresh(client, token: str):
    return await client.post("/api/v1/auth/token", json={"refresh_token": token})


async def test_a_refresh_token_is_good_once_and_rotates(client):
    first = (await tokens_for(client))["refresh_token"]
    second = await refresh(client, first)
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first
    third = await refresh(client, second.json()["refresh_token"])
    assert third.status_code == 200


async def test_a_replayed_refresh_token_revokes_its_whole_family(client):
    tokens = await tokens_for(client)
    stolen = tokens["refresh_token"]
    legitimate = (await refresh(client, stolen)).json()["refresh_token"]
    replay = await refresh(client, stolen)
    assert replay.status_code == 401
    # The family is gone: the legitimate holder's newer token no longer works either...
    assert (await refresh(client, legitimate)).status_code == 401
    # ...while another login of the same account (its own family) is untouched.
    other = await client.post(
        "/api/v1/auth/token", json={"email": tokens["email"], "password": PASSWORD}
    )
    assert (await refresh(client, other.json()["refresh_token"])).status_code == 200


async def test_logout_revokes_the_family_of_the_token_it_is_given(client):
    tokens = await tokens_for(client)
    next_token = (await refresh(client, tokens["refresh_token"])).json()["refresh_token"]
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": next_token})
    assert out.status_code == 204
    assert (await refresh(client, next_token)).status_code == 401
    forged = await client.post("/api/v1/auth/logout", json={"refresh_token": "not.a.jwt"})
    assert forged.status_code == 401


async def test_admin_emails_no_longer_make_an_admin_and_an_operator_grants_the_role(
    gateway_settings, engine
):
    from revue.gateway.adapters.accounts import Accounts

    async with serving(gateway_settings()) as client:
        tokens = await tokens_for(client)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        admin_route = "/api/v1/query-optimizer/recommendations"
        assert (await client.get(admin_route, headers=headers)).status_code == 403
        await Accounts(engine).set_admin(tokens["email"], True)
        # The same access token: the role is read from the database, not the token.
        granted = await client.get(admin_route, headers=headers)
        assert granted.status_code == 503, granted.text  # past auth; no optimizer running
        await Accounts(engine).set_admin(tokens["email"], False)
        assert (await client.get(admin_route, headers=headers)).status_code == 403


async def test_the_admin_command_grants_revokes_and_lists(gateway_settings, gateway_database):
    import subprocess
    import sys

    async with serving(gateway_settings()) as client:
        email = (await tokens_for(client))["email"]
    env = {**os.environ, "DATABASE_URL": gateway_database}

    def admin(*words):
        return subprocess.run(
            [sys.executable, "-m", "revue.gateway.entrypoints.cli", "admin", *words],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert admin("grant", email.upper()).returncode == 0
    assert admin("list").stdout.split() == [email]
    assert admin("revoke", email).returncode == 0
    assert admin("list").stdout.split() == []
    missing = admin("grant", "nobody@example.com")
    assert missing.returncode == 1 and "no account" in missing.stderr


def test_a_short_jwt_secret_is_refused_and_an_empty_one_counts_as_unset():
    from pydantic import ValidationError

    from revue.gateway.settings import GatewaySettings

    with pytest.raises(ValidationError, match="at least 32 bytes"):
        GatewaySettings(jwt_secret="secret")
    assert GatewaySettings(jwt_secret="").jwt_secret is None
    assert GatewaySettings(jwt_secret="k" * 32).jwt_secret.get_secret_value() == "k" * 32
