from __future__ import annotations

import asyncio
import os
import stat

from corral.process import build_context
from corral.services import auth
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, scoped_key, submit, wait

WEATHER = {
    "type": "client",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def second_workspace_key(settings, name="other") -> str:
    ctx = build_context(settings)
    await ctx.database.connect()
    try:
        _, key = await auth.create_workspace(ctx, name)
    finally:
        await ctx.database.close()
    return key


async def test_requests_without_a_valid_key_are_unauthorized(app):
    async with api_client(app, key=None) as anonymous, api_client(app, key="crl_wrong") as wrong:
        assert_error(await anonymous.get("/v1/runs"), 401, "unauthorized")
        assert_error(await wrong.get("/v1/runs"), 401, "unauthorized")


async def test_the_x_api_key_header_is_accepted(app):
    from tests.conftest import ADMIN_KEY

    async with api_client(app, key=None) as client:
        response = await client.get("/v1/whoami", headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 200


async def test_objects_of_another_workspace_answer_not_found(app, settings):
    other_key = await second_workspace_key(settings)
    async with api_client(app) as mine, api_client(app, key=other_key) as theirs:
        run = await submit(mine, "private")
        await wait(mine, run["id"])
        agent = (await mine.post("/v1/agents", json={"name": "secret", "model": "test"})).json()
        session = (await mine.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()

        for path in (
            f"/v1/runs/{run['id']}",
            f"/v1/runs/{run['id']}/events",
            f"/v1/runs/{run['id']}/stream",
            f"/v1/runs/{run['id']}/wait",
            f"/v1/agents/{agent['id']}",
            "/v1/agents/secret",
            f"/v1/sessions/{session['id']}",
        ):
            assert_error(await theirs.get(path), 404, "not_found")
        assert_error(await theirs.post(f"/v1/runs/{run['id']}/cancel"), 404, "not_found")
        assert_error(await theirs.delete(f"/v1/runs/{run['id']}"), 404, "not_found")
        assert_error(
            await theirs.post("/v1/runs", json={"agent": "secret", "input": "x"}), 404, "not_found"
        )
        assert (await theirs.get("/v1/runs")).json()["data"] == []
        assert (await mine.get(f"/v1/runs/{run['id']}")).status_code == 200


async def test_a_key_without_the_scope_gets_insufficient_scope(app, settings):
    ctx = build_context(settings)
    await ctx.database.connect()
    try:
        _, reader = await auth.create_workspace(ctx, "readers", scopes=["runs:read"])
    finally:
        await ctx.database.close()
    async with api_client(app, key=reader) as client:
        listed = await client.get("/v1/runs")
        refused = await client.post(
            "/v1/runs", json={"agent_spec": {"model": "test"}, "input": "x"}
        )

    assert listed.status_code == 200
    assert_error(refused, 403, "insufficient_scope")
    assert refused.json()["required_scope"] == "runs:write"


def assert_lacks(response, scope: str) -> None:
    assert_error(response, 403, "insufficient_scope")
    assert response.json()["required_scope"] == scope


async def waiting_session_run(client):
    """A run of a new session, parked on a client tool call; the session and the run."""
    session = (
        await client.post(
            "/v1/sessions", json={"agent_spec": {"model": "test", "tools": [WEATHER]}}
        )
    ).json()
    run = await submit(client, "weather?", session=session["id"])
    for _ in range(250):
        run = (await client.get(f"/v1/runs/{run['id']}")).json()
        if run["status"] == "waiting":
            return session, run
        await asyncio.sleep(0.02)
    raise AssertionError(f"the run never waited: {run}")


async def test_a_message_sent_to_a_session_through_post_runs_needs_sessions_write(
    app, client, settings
):
    session = (await client.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()
    body = {"session": session["id"], "input": "smuggled"}
    runs_only = await scoped_key(settings, ["runs:write"])
    session_reader = await scoped_key(settings, ["runs:write", "sessions:read"])
    session_writer = await scoped_key(settings, ["runs:write", "sessions:write"])

    async with (
        api_client(app, key=runs_only) as first,
        api_client(app, key=session_reader) as second,
        api_client(app, key=session_writer) as third,
    ):
        refused = [
            await first.post("/v1/runs", json=body),
            await first.post("/v1/runs", params={"wait_s": 1}, json=body),
            await first.post("/v1/runs", json=body, headers={"Idempotency-Key": "k1"}),
            await second.post("/v1/runs", json=body),
        ]
        accepted = await third.post("/v1/runs", json={**body, "input": "allowed"})

    for response in refused:
        assert_lacks(response, "sessions:write")
    assert accepted.status_code == 202, accepted.text
    await wait(client, accepted.json()["id"])
    conversation = (await client.get(f"/v1/sessions/{session['id']}")).json()["messages"]
    assert [m["content"] for m in conversation if m["role"] == "user"] == ["allowed"]
    in_session = (await client.get("/v1/runs", params={"session": session["id"]})).json()
    assert [run["input"] for run in in_session["data"]] == ["allowed"]


async def test_a_run_of_a_session_is_readable_only_with_sessions_read(app, client, settings):
    session = (await client.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()
    private = await submit(client, "a private message", session=session["id"])
    public = await submit(client, "a run of its own")
    await wait(client, private["id"])
    await wait(client, public["id"])
    runs_reader = await scoped_key(settings, ["runs:read"])
    both_reader = await scoped_key(settings, ["runs:read", "sessions:read"])
    paths = [
        f"/v1/runs/{private['id']}{suffix}"
        for suffix in ("", "/wait", "/events", "/stream", "/outputs", "/outputs?archive=tar.gz")
    ]

    async with (
        api_client(app, key=runs_reader) as reader,
        api_client(app, key=both_reader) as full,
    ):
        for path in paths:
            assert_lacks(await reader.get(path), "sessions:read")
            assert (await full.get(path)).status_code == 200, path
        assert_lacks(
            await reader.get("/v1/runs", params={"session": session["id"]}), "sessions:read"
        )
        assert (await reader.get(f"/v1/runs/{public['id']}")).status_code == 200
        listed = (await reader.get("/v1/runs")).json()["data"]
        listed_in_full = (await full.get("/v1/runs")).json()["data"]

    assert [run["id"] for run in listed] == [public["id"]]
    assert [run["id"] for run in listed_in_full] == [public["id"], private["id"]]


async def test_answering_cancelling_or_deleting_a_run_of_a_session_needs_sessions_write(
    app, client, settings
):
    _, run = await waiting_session_run(client)
    [call] = run["pending_tool_calls"]
    answer = {"call_id": call["call_id"], "output": "sunny"}
    session_reader = await scoped_key(settings, ["runs:write", "sessions:read"])
    session_writer = await scoped_key(settings, ["runs:write", "sessions:write"])

    async with (
        api_client(app, key=session_reader) as reader,
        api_client(app, key=session_writer) as writer,
    ):
        assert_lacks(
            await reader.post(f"/v1/runs/{run['id']}/tool-results", json=answer), "sessions:write"
        )
        assert_lacks(await reader.post(f"/v1/runs/{run['id']}/cancel"), "sessions:write")
        assert_lacks(await reader.delete(f"/v1/runs/{run['id']}"), "sessions:write")
        assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "waiting"

        answered = await writer.post(f"/v1/runs/{run['id']}/tool-results", json=answer)
        ended = await wait(client, run["id"])
        deleted = await writer.delete(f"/v1/runs/{run['id']}")

    assert answered.status_code == 200, answered.text
    assert ended["output"] == "get_weather returned: sunny"
    assert deleted.status_code == 204


async def test_the_first_start_writes_an_admin_key_file_readable_only_by_its_owner(make_settings):
    settings = make_settings(bootstrap_key=None)
    async with running_app(settings) as app:
        key_file = settings.data_dir / "admin.key"
        key = key_file.read_text().strip()
        async with api_client(app, key=key) as client:
            whoami = (await client.get("/v1/whoami")).json()

    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert whoami["workspace"]["name"] == "default"
    assert "admin" in whoami["key"]["scopes"]


async def test_a_restart_does_not_create_another_key(make_settings):
    settings = make_settings(bootstrap_key=None)
    async with running_app(settings):
        first = (settings.data_dir / "admin.key").read_text()
    async with running_app(settings):
        second = (settings.data_dir / "admin.key").read_text()

    assert first == second
