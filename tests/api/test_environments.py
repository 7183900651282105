"""Stored environments: their lifecycle, and the sessions opened with one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from corral.services import auth
from corral.storage.tables import runs
from tests.api.test_sessions import send
from tests.conftest import api_client
from tests.helpers import assert_error, wait

CONFIG = {
    "networking": {"mode": "none", "allowed_hosts": []},
    "variables": {"STAGE": "test"},
    "runtime": "medium",
    "setup": ["echo ready > ready.txt"],
}


async def create(client, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "python")
    response = await client.post("/v1/environments", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_environment_is_stored_with_its_config_and_read_back(client):
    made = await create(
        client, name="python", description="Python 3", metadata={"team": "ml"}, config=CONFIG
    )
    read = await client.get(f"/v1/environments/{made['id']}")

    assert made["id"].startswith("env_")
    assert read.status_code == 200
    assert read.json() == made
    assert (made["name"], made["description"], made["metadata"]) == (
        "python",
        "Python 3",
        {"team": "ml"},
    )
    assert made["config"] == CONFIG
    assert made["archived_at"] is None
    assert made["created_at"] == made["updated_at"]


async def test_an_environment_needs_only_a_name_which_need_not_be_unique(client):
    first = await create(client, name="same")
    second = await create(client, name="same")

    assert first["id"] != second["id"]
    assert first["description"] == ""
    assert first["metadata"] == {}
    assert first["config"] == {
        "networking": {"mode": "open", "allowed_hosts": []},
        "variables": {},
        "runtime": "small",
        "setup": [],
    }


async def test_bad_environments_are_refused_naming_the_field(client):
    for body, field in (
        ({"name": ""}, "/name"),
        ({"name": "n" * 257}, "/name"),
        ({"name": "x", "description": "d" * 2049}, "/description"),
        ({"name": "x", "config": {"runtime": "huge"}}, "/config/runtime"),
        ({"name": "x", "config": {"networking": {"mode": "some"}}}, "/config/networking/mode"),
        ({"name": "x", "surprise": 1}, "/surprise"),
    ):
        response = await client.post("/v1/environments", json=body)
        assert_error(response, 400, "invalid_request", field=field)


async def test_environments_are_listed_newest_first_in_pages(client):
    ids = [(await create(client, name=f"e{n}"))["id"] for n in range(3)]

    first = (await client.get("/v1/environments", params={"limit": 2})).json()
    rest = (
        await client.get("/v1/environments", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    assert [e["id"] for e in first["data"]] == [ids[2], ids[1]]
    assert first["next_cursor"] == ids[1]
    assert [e["id"] for e in rest["data"]] == [ids[0]]
    assert rest["next_cursor"] is None


async def test_an_update_replaces_the_fields_given_and_leaves_the_others(client):
    made = await create(client, description="old", metadata={"a": "1", "b": "2"}, config=CONFIG)

    changed = await client.patch(
        f"/v1/environments/{made['id']}",
        json={"name": "renamed", "metadata": {"c": "3"}, "config": {"runtime": "large"}},
    )
    unchanged = await client.patch(f"/v1/environments/{made['id']}", json={"description": None})

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["description"], body["metadata"]) == ("renamed", "old", {"c": "3"})
    assert body["config"]["runtime"] == "large"
    assert body["config"]["setup"] == []  # a given config replaces the whole config
    assert body["updated_at"] >= made["updated_at"]
    assert unchanged.json() == body


async def test_archiving_keeps_the_first_time_refuses_changes_and_can_be_filtered(client):
    kept = await create(client, name="kept")
    made = await create(client, name="old")

    archived = (await client.post(f"/v1/environments/{made['id']}/archive")).json()
    again = (await client.post(f"/v1/environments/{made['id']}/archive")).json()
    refused = await client.patch(f"/v1/environments/{made['id']}", json={"name": "new"})
    everything = (await client.get("/v1/environments")).json()["data"]
    current = (await client.get("/v1/environments", params={"include_archived": "false"})).json()[
        "data"
    ]

    assert archived["archived_at"] is not None
    assert again["archived_at"] == archived["archived_at"]
    assert_error(refused, 409, "environment_archived")
    assert (await client.get(f"/v1/environments/{made['id']}")).json()["name"] == "old"
    assert [e["id"] for e in everything] == [made["id"], kept["id"]]
    assert [e["id"] for e in current] == [kept["id"]]


async def test_a_deleted_environment_is_gone(client):
    made = await create(client)

    deleted = await client.delete(f"/v1/environments/{made['id']}")

    assert deleted.status_code == 204
    assert_error(await client.get(f"/v1/environments/{made['id']}"), 404, "not_found")
    assert_error(await client.delete(f"/v1/environments/{made['id']}"), 404, "not_found")
    assert (await client.get("/v1/environments")).json()["data"] == []


async def test_unknown_and_other_workspaces_environments_answer_not_found(app, client):
    made = await create(client)
    _, other_key = await auth.create_workspace(app.state.ctx, "other")

    async with api_client(app, other_key) as other:
        for environment_id in (made["id"], "env_01JD5X3V6Q8Z0M9T2B4C7E1F3H"):
            path = f"/v1/environments/{environment_id}"
            response = await other.get(path)
            assert_error(response, 404, "not_found")
            assert response.json()["message"] == f"no environment {environment_id!r}"
            assert_error(await other.patch(path, json={"name": "x"}), 404, "not_found")
            assert_error(await other.post(f"{path}/archive"), 404, "not_found")
            assert_error(await other.delete(path), 404, "not_found")
        assert (await other.get("/v1/environments")).json()["data"] == []
    assert (await client.get(f"/v1/environments/{made['id']}")).status_code == 200


async def stored_spec(app, run_id: str) -> dict[str, Any]:
    """The spec a run was queued with, as stored."""

    def read(conn: Any) -> dict[str, Any]:
        return dict(conn.execute(sa.select(runs.c.spec).where(runs.c.id == run_id)).scalar_one())

    return dict(await app.state.ctx.database.read(read))


async def test_a_session_opened_with_an_environment_runs_every_message_in_its_config(app, client):
    agent = {"name": "coder", "model": "test", "environment": {"setup": ["echo agent"]}}
    assert (await client.post("/v1/agents", json=agent)).status_code == 201
    environment = await create(client, config=CONFIG)

    opened = await client.post(
        "/v1/sessions", json={"agent": "coder", "environment_id": environment["id"]}
    )
    assert opened.status_code == 201, opened.text
    session = opened.json()
    first = await send(client, session["id"], "first")
    await wait(client, first["id"])
    changed = await client.patch(
        f"/v1/environments/{environment['id']}", json={"config": {"runtime": "large"}}
    )
    second = await send(client, session["id"], "second")
    await wait(client, second["id"])

    assert session["environment_id"] == environment["id"]
    assert (await stored_spec(app, first["id"]))["environment"] == CONFIG
    assert changed.status_code == 200
    assert (await stored_spec(app, second["id"]))["environment"] == CONFIG  # copied at opening


async def test_a_session_with_an_unknown_or_archived_environment_is_refused(client):
    archived = await create(client)
    await client.post(f"/v1/environments/{archived['id']}/archive")

    unknown = await client.post(
        "/v1/sessions", json={"agent_spec": {"model": "test"}, "environment_id": "env_nope"}
    )
    refused = await client.post(
        "/v1/sessions", json={"agent_spec": {"model": "test"}, "environment_id": archived["id"]}
    )

    assert_error(unknown, 404, "not_found", field="/environment_id")
    assert_error(refused, 409, "environment_archived", field="/environment_id")
    assert (await client.get("/v1/sessions")).json()["data"] == []
