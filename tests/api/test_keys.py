"""Managing API keys: create, list, revoke and rotate, limits on what a key can grant, and audit."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import REDIS_URL, api_client, running_app
from tests.helpers import assert_error, scoped_key, submit, wait


async def create_key(client, **body) -> dict:
    response = await client.post("/v1/keys", json={"name": "ci", "scopes": ["runs:read"], **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_new_key_is_shown_once_and_works_with_exactly_its_scopes(app, client):
    created = await create_key(client, name="deploy bot", scopes=["runs:write", "agents:read"])

    assert created["secret"].startswith("crl_")
    assert created["prefix"] == created["secret"][: len(created["prefix"])]
    listed = (await client.get("/v1/keys")).json()["data"]
    assert created["id"] in [key["id"] for key in listed]
    assert all("secret" not in key for key in listed)
    shown = (await client.get(f"/v1/keys/{created['id']}")).json()
    assert "secret" not in shown
    assert (shown["name"], shown["scopes"]) == ("deploy bot", ["agents:read", "runs:write"])
    async with api_client(app, key=created["secret"]) as bot:
        me = (await bot.get("/v1/whoami")).json()
        assert me["key"]["id"] == created["id"]
        run = await submit(bot, "hi")
        await wait(bot, run["id"])
        assert_error(
            await bot.post("/v1/agents", json={"name": "x", "model": "test"}),
            403,
            "insufficient_scope",
        )
    used = (await client.get(f"/v1/keys/{created['id']}")).json()
    assert used["last_used_at"] is not None


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"scopes": ["runs:fly"]}, 400, "invalid_request", "/scopes/0"),
        ({"scopes": []}, 400, "invalid_request", "/scopes"),
        ({"name": ""}, 400, "invalid_request", "/name"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, 400, "invalid_request", "/expires_at"),
        ({"expires_at": "2999-01-01T00:00:00"}, 400, "invalid_request", "/expires_at"),
        ({"agents": []}, 400, "invalid_request", "/agents"),
        ({"colour": "red"}, 400, "invalid_request", "/colour"),
    ],
)
async def test_a_bad_key_request_names_its_field(client, body, status, code, field):
    response = await client.post("/v1/keys", json={"name": "k", "scopes": ["runs:read"], **body})

    assert_error(response, status, code, field)


async def test_a_key_cannot_grant_more_than_it_has(app, settings):
    manager = await scoped_key(settings, ["keys:write", "runs:write"])
    async with api_client(app, key=manager) as client:
        assert_error(
            await client.post("/v1/keys", json={"name": "x", "scopes": ["runs:read", "admin"]}),
            403,
            "forbidden",
            "/scopes/1",
        )
        made = await create_key(client, scopes=["runs:read"])
        assert made["created_by"] is not None
        reader = await scoped_key(settings, ["keys:read"])
    async with api_client(app, key=reader) as client:
        assert_error(
            await client.post("/v1/keys", json={"name": "x", "scopes": ["runs:read"]}),
            403,
            "insufficient_scope",
        )
        assert (await client.get("/v1/keys")).status_code == 200


async def test_a_revoked_key_stops_at_once_even_where_it_was_cached(make_settings, backend):
    # A long key cache: only the revocation notice can make the nodes forget the key.
    options = {"key_cache_s": 300.0}
    if backend == "postgres":
        options["redis_url"] = REDIS_URL  # nodes in different processes talk through Redis
    settings = make_settings(**options)
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(running_app(settings))
        nodes = [first]
        if backend == "postgres":  # SQLite serves from one process only
            nodes.append(await stack.enter_async_context(running_app(settings)))
        admin = await stack.enter_async_context(api_client(first))
        key = await create_key(admin)
        users = [await stack.enter_async_context(api_client(n, key=key["secret"])) for n in nodes]
        for user in users:
            assert (await user.get("/v1/runs")).status_code == 200  # now cached on each node

        revoked = await admin.delete(f"/v1/keys/{key['id']}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        await asyncio.sleep(0.5)
        for user in users:
            assert_error(await user.get("/v1/runs"), 401, "unauthorized")
        # Revoking again changes nothing.
        again = await admin.delete(f"/v1/keys/{key['id']}")
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_rotation_replaces_the_secret_with_an_optional_grace(app, client):
    key = await create_key(client)
    rotated = (await client.post(f"/v1/keys/{key['id']}/rotate")).json()
    graced = (await client.post(f"/v1/keys/{key['id']}/rotate", json={"grace_s": 60})).json()

    assert rotated["id"] == graced["id"] == key["id"]
    async with (
        api_client(app, key=key["secret"]) as original,
        api_client(app, key=rotated["secret"]) as second,
        api_client(app, key=graced["secret"]) as third,
    ):
        assert_error(await original.get("/v1/runs"), 401, "unauthorized")
        assert (await second.get("/v1/runs")).status_code == 200  # within its grace
        assert (await third.get("/v1/runs")).status_code == 200
    assert_error(await client.post("/v1/keys/key_nope/rotate"), 404, "not_found")


async def test_an_expired_key_is_refused_saying_so(app, client, settings):
    soon = datetime.now(UTC) + timedelta(seconds=1)
    key = await create_key(client, expires_at=soon.isoformat())
    async with api_client(app, key=key["secret"]) as user:
        assert (await user.get("/v1/runs")).status_code == 200
        await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
        response = await user.get("/v1/runs")
    assert_error(response, 401, "unauthorized")
    assert "expired" in response.json()["message"]


async def test_a_key_limited_to_agents_runs_only_those(app, client):
    await client.post("/v1/agents", json={"name": "helper", "model": "test"})
    await client.post("/v1/agents", json={"name": "other", "model": "test"})
    key = await create_key(client, scopes=["runs:write", "sessions:write"], agents=["helper"])
    async with api_client(app, key=key["secret"]) as user:
        run = await submit(user, "hi", agent="helper")
        assert (await wait(user, run["id"]))["status"] == "completed"
        assert_error(
            await user.post("/v1/runs", json={"input": "x", "agent": "other"}),
            403,
            "forbidden",
            "/agent",
        )
        assert_error(
            await user.post("/v1/runs", json={"input": "x", "agent_spec": {"model": "test"}}),
            403,
            "forbidden",
            "/agent_spec",
        )
        # It cannot make a key free of the restriction either.
        assert_error(
            await user.post("/v1/keys", json={"name": "x", "scopes": ["runs:read"]}),
            403,
            "insufficient_scope",
        )
    other_session = (await client.post("/v1/sessions", json={"agent": "other"})).json()
    async with api_client(app, key=key["secret"]) as user:
        response = await user.post(
            f"/v1/sessions/{other_session['id']}/messages", json={"input": "hi"}
        )
    assert_error(response, 403, "forbidden", "/session")


async def test_the_last_admin_key_cannot_be_revoked(client):
    me = (await client.get("/v1/whoami")).json()

    assert_error(await client.delete(f"/v1/keys/{me['key']['id']}"), 409, "conflict")
    second = await create_key(client, name="second admin", scopes=["admin"])
    assert (await client.delete(f"/v1/keys/{second['id']}")).status_code == 200


async def test_every_key_change_is_in_the_audit_log_without_secrets(app, client, settings):
    key = await create_key(client, name="audited")
    rotated = (await client.post(f"/v1/keys/{key['id']}/rotate")).json()
    await client.delete(f"/v1/keys/{key['id']}")

    page = (await client.get("/v1/audit")).json()
    mine = [e for e in page["data"] if e["target_id"] == key["id"]]
    assert [e["action"] for e in mine] == ["key.revoked", "key.rotated", "key.created"]
    me = (await client.get("/v1/whoami")).json()["key"]
    assert {(e["actor"], e["actor_key_id"]) for e in mine} == {(me["name"], me["id"])}
    assert all(e["address"] for e in mine)
    assert mine[2]["details"]["scopes"] == ["runs:read"]
    text = str(page)
    assert key["secret"] not in text and rotated["secret"] not in text
    only = (await client.get("/v1/audit", params={"action": "key.created", "limit": 1})).json()
    assert [e["action"] for e in only["data"]] == ["key.created"]
    assert only["next_cursor"] is None or only["next_cursor"] == only["data"][0]["id"]
    reader = await scoped_key(settings, ["runs:read"])
    async with api_client(app, key=reader) as outsider:
        assert_error(await outsider.get("/v1/audit"), 403, "insufficient_scope")
