from __future__ import annotations

from tests.helpers import assert_error, submit, wait

SPEC = {
    "name": "researcher",
    "description": "Finds things out",
    "model": "test",
    "instructions": "Answer briefly.",
    "tools": [{"type": "client", "name": "lookup", "parameters": {"type": "object"}}],
    "limits": {"max_turns": 5},
    "metadata": {"team": "search"},
}


async def create(client, **overrides):
    response = await client.post("/v1/agents", json={**SPEC, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_agent_is_created_at_version_one_and_read_by_id_or_name(client):
    agent = await create(client)

    by_id = (await client.get(f"/v1/agents/{agent['id']}")).json()
    by_name = (await client.get("/v1/agents/researcher")).json()

    assert agent["id"].startswith("agt_")
    assert agent["version"] == 1
    assert by_id == by_name == agent
    assert agent["limits"] == {
        "max_turns": 5,
        "max_tool_calls_per_turn": None,
        "max_output_tokens": None,
        "timeout_s": None,
        "max_spend_usd": None,
    }
    assert agent["tools"][0]["name"] == "lookup"


async def test_a_change_makes_a_new_immutable_version_and_an_identical_one_does_not(client):
    agent = await create(client)

    changed = (
        await client.patch(f"/v1/agents/{agent['id']}", json={"instructions": "Be thorough."})
    ).json()
    unchanged = (
        await client.patch("/v1/agents/researcher", json={"instructions": "Be thorough."})
    ).json()
    versions = (await client.get("/v1/agents/researcher/versions")).json()["data"]

    assert changed["version"] == 2
    assert changed["instructions"] == "Be thorough."
    assert changed["description"] == "Finds things out"
    assert unchanged["version"] == 2
    assert [(v["version"], v["instructions"]) for v in versions] == [
        (2, "Be thorough."),
        (1, "Answer briefly."),
    ]


async def test_runs_use_the_latest_version_unless_one_is_pinned(client):
    await create(client, tools=[])
    await client.patch("/v1/agents/researcher", json={"instructions": "[[reply version two]]"})

    latest = await wait(client, (await submit(client, "q", agent="researcher"))["id"])
    pinned = await wait(
        client, (await submit(client, "q", agent="researcher", agent_version=1))["id"]
    )

    assert (latest["agent_version"], latest["output"]) == (2, "version two")
    assert (pinned["agent_version"], pinned["output"]) == (1, "q")


async def test_agents_are_listed_newest_first_with_pagination(client):
    for name in ("a1", "a2", "a3"):
        await create(client, name=name)

    first = (await client.get("/v1/agents", params={"limit": 2})).json()
    second = (await client.get("/v1/agents", params={"cursor": first["next_cursor"]})).json()

    assert [a["name"] for a in first["data"]] == ["a3", "a2"]
    assert [a["name"] for a in second["data"]] == ["a1"]
    assert second["next_cursor"] is None


async def test_a_deleted_agent_is_gone_but_its_runs_remain(client):
    agent = await create(client, tools=[])
    run = await wait(client, (await submit(client, "q", agent="researcher"))["id"])

    deleted = await client.delete(f"/v1/agents/{agent['id']}")

    assert deleted.status_code == 204
    assert_error(await client.get("/v1/agents/researcher"), 404, "not_found")
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["agent"] == agent["id"]
    assert (await create(client, name="researcher"))["id"] != agent["id"]


async def test_agent_metadata_is_inherited_by_runs_and_run_metadata_wins(client):
    await create(client, tools=[], metadata={"team": "search", "tier": "gold"})

    run = await submit(client, "q", agent="researcher", metadata={"tier": "free"})

    assert run["metadata"] == {"team": "search", "tier": "free"}


async def test_runs_can_be_filtered_by_agent_id_or_name(client):
    agent = await create(client, tools=[])
    mine = await submit(client, "q", agent="researcher")
    await submit(client, "other")

    by_name = (await client.get("/v1/runs", params={"agent": "researcher"})).json()["data"]
    by_id = (await client.get("/v1/runs", params={"agent": agent["id"]})).json()["data"]

    assert [r["id"] for r in by_name] == [r["id"] for r in by_id] == [mine["id"]]
