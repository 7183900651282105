"""Archiving an agent: it starts nothing new, while its open sessions go on."""

from __future__ import annotations

from tests.api.test_agents import create
from tests.api.test_sessions import send
from tests.helpers import assert_error, wait


async def test_an_archived_agent_starts_no_runs_or_sessions_but_its_sessions_go_on(client):
    await create(client, name="retiring", tools=[])
    opened = (await client.post("/v1/sessions", json={"agent": "retiring"})).json()

    archived = await client.post("/v1/agents/retiring/archive")
    run = await client.post("/v1/runs", json={"agent": "retiring", "input": "hi"})
    pinned = await client.post(
        "/v1/runs", json={"agent": "retiring", "agent_version": 1, "input": "hi"}
    )
    session = await client.post("/v1/sessions", json={"agent": archived.json()["id"]})
    message = await send(client, opened["id"], "still here")

    assert archived.status_code == 200, archived.text
    assert archived.json()["archived_at"] is not None
    for refused in (run, pinned, session):
        assert_error(refused, 409, "agent_archived", field="/agent")
        assert "'retiring'" in refused.json()["message"]
    assert (await wait(client, message["id"]))["status"] == "completed"


async def test_archiving_again_keeps_the_first_time_and_lists_may_leave_it_out(client):
    kept = await create(client, name="kept")
    old = await create(client, name="old")

    first = (await client.post(f"/v1/agents/{old['id']}/archive")).json()
    again = (await client.post("/v1/agents/old/archive")).json()
    everything = (await client.get("/v1/agents")).json()["data"]
    current = (await client.get("/v1/agents", params={"include_archived": "false"})).json()

    assert kept["archived_at"] is None
    assert again["archived_at"] == first["archived_at"]
    assert (await client.get("/v1/agents/old")).json()["archived_at"] == first["archived_at"]
    assert [a["name"] for a in everything] == ["old", "kept"]
    assert [a["name"] for a in current["data"]] == ["kept"]


async def test_archiving_an_unknown_agent_answers_not_found(client):
    assert_error(await client.post("/v1/agents/nobody/archive"), 404, "not_found")
