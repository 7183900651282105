from __future__ import annotations

import os
import stat

from corral.api.app import build_context
from corral.services import auth
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, submit, wait


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
