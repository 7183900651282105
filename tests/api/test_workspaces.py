"""The server's operator manages workspaces: create, list, suspend, resume and delete."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, submit

OPERATOR_KEY = "crl_operator_test_key"
WEATHER = {
    "type": "client",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def operated(make_settings):
    """The app with an operator key (and a long key cache, which suspension must see past)."""
    settings = make_settings(operator_key=OPERATOR_KEY, key_cache_s=300.0)
    async with running_app(settings) as app:
        yield app


async def create(operator, name: str) -> dict:
    response = await operator.post("/v1/workspaces", json={"name": name})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_new_workspace_comes_with_an_admin_key_of_its_own(operated):
    async with api_client(operated, key=OPERATOR_KEY) as operator:
        team = await create(operator, "team-a")
        listed = (await operator.get("/v1/workspaces")).json()["data"]
        by_name = (await operator.get("/v1/workspaces/team-a")).json()
        assert_error(
            await operator.post("/v1/workspaces", json={"name": "team-a"}), 409, "conflict", "/name"
        )
        assert_error(
            await operator.post("/v1/workspaces", json={"name": "no spaces"}),
            400,
            "invalid_request",
            "/name",
        )
        assert_error(await operator.get("/v1/runs"), 401, "unauthorized")

    assert team["status"] == "active"
    assert [w["name"] for w in listed] == ["default", "team-a"]
    assert by_name["id"] == team["id"]
    async with api_client(operated, key=team["admin_key"]["secret"]) as admin:
        me = (await admin.get("/v1/whoami")).json()
        assert me["workspace"] == {"id": team["id"], "name": "team-a"}
        assert me["key"]["scopes"] == ["admin"]
        audit = (await admin.get("/v1/audit")).json()["data"]
    assert [(e["action"], e["actor"]) for e in audit] == [("workspace.created", "operator")]


async def test_only_the_operator_key_manages_workspaces(app, operated):
    async with api_client(operated) as workspace_admin:
        assert_error(await workspace_admin.get("/v1/workspaces"), 403, "forbidden")
    async with api_client(operated, key="crl_not_the_operator") as stranger:
        assert_error(await stranger.get("/v1/workspaces"), 403, "forbidden")
    async with api_client(app, key=OPERATOR_KEY) as unconfigured:
        response = await unconfigured.get("/v1/workspaces")
    assert_error(response, 403, "forbidden")
    assert "CORRAL_OPERATOR_KEY" in response.json()["message"]


async def test_suspension_stops_the_workspaces_keys_at_once_and_resuming_restores_them(operated):
    async with api_client(operated, key=OPERATOR_KEY) as operator:
        team = await create(operator, "team-b")
        async with api_client(operated, key=team["admin_key"]["secret"]) as admin:
            assert (await admin.get("/v1/runs")).status_code == 200  # cached from now on
            suspended = (await operator.post("/v1/workspaces/team-b/suspend")).json()
            assert (suspended["status"], suspended["suspended_at"] is not None) == (
                "suspended",
                True,
            )
            await asyncio.sleep(0.2)
            assert_error(await admin.get("/v1/runs"), 403, "workspace_suspended")
            again = (await operator.post("/v1/workspaces/team-b/suspend")).json()
            assert again["suspended_at"] == suspended["suspended_at"]
            resumed = (await operator.post(f"/v1/workspaces/{team['id']}/resume")).json()
            assert resumed["status"] == "active"
            assert (await admin.get("/v1/runs")).status_code == 200
            actions = [e["action"] for e in (await admin.get("/v1/audit")).json()["data"]]
    assert actions == ["workspace.resumed", "workspace.suspended", "workspace.created"]


async def test_deleting_a_workspace_cancels_its_runs_and_removes_it(operated):
    async with api_client(operated, key=OPERATOR_KEY) as operator:
        team = await create(operator, "team-c")
        async with api_client(operated, key=team["admin_key"]["secret"]) as admin:
            run = await submit(admin, '[[call get_weather {"city": "Paris"}]]', tools=[WEATHER])
            for _ in range(100):
                if (await admin.get(f"/v1/runs/{run['id']}")).json()["status"] == "waiting":
                    break
                await asyncio.sleep(0.05)
            deleted = await operator.delete("/v1/workspaces/team-c")
            assert deleted.status_code == 204
            await asyncio.sleep(0.2)
            assert_error(await admin.get("/v1/runs"), 401, "unauthorized")
        assert_error(await operator.get("/v1/workspaces/team-c"), 404, "not_found")
        assert_error(await operator.delete("/v1/workspaces/team-c"), 404, "not_found")
        names = [w["name"] for w in (await operator.get("/v1/workspaces")).json()["data"]]
    assert names == ["default"]
