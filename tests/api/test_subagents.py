"""Subagents: runs that a run's tool calls start, wait for, limit, pay for and end."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, events, parse_sse, submit, wait


def call(tool: str, arguments: dict[str, Any]) -> str:
    """A test model directive calling `tool`."""
    return f"[[call {tool} {orjson.dumps(arguments).decode()}]]"


async def store_agent(client: httpx.AsyncClient, name: str, **spec: Any) -> dict[str, Any]:
    response = await client.post("/v1/agents", json={"name": name, "model": "test", **spec})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def children(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    listed = (await client.get("/v1/runs", params={"parent_run": run_id})).json()
    return list(listed["data"])


async def two_deep(client: httpx.AsyncClient) -> dict[str, Any]:
    """An ended run whose call started `middle`, whose own call started `leaf`."""
    await store_agent(client, "leaf")
    await store_agent(
        client,
        "middle",
        instructions=call("leaf", {"task": "deepest"}),
        tools=[{"type": "agent", "agent": "leaf"}],
    )
    run = await submit(
        client,
        call("middle", {"task": "go"}),
        agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "middle"}]},
    )
    return await wait(client, run["id"])


async def test_an_agent_tool_runs_the_agent_as_a_child_and_answers_with_its_output(client):
    helper = await store_agent(client, "helper", description="Says what it was told.")
    run = await submit(
        client,
        call("helper", {"task": "write a haiku"}),
        agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "helper"}]},
    )
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed", ended
    assert ended["output"] == "helper returned: write a haiku"
    [child] = await children(client, run["id"])
    assert child["status"] == "completed"
    assert (child["parent_run"], child["root_run"], child["depth"]) == (
        run["id"],
        run["id"],
        1,
    )
    assert (child["agent"], child["agent_version"]) == (helper["id"], 1)
    assert child["input"] == "write a haiku"
    assert ended["subagents"] == 1
    total = ended["total_usage"]
    assert total["input_tokens"] == (
        ended["usage"]["input_tokens"] + child["usage"]["input_tokens"]
    )
    log = await events(client, run["id"])
    started = [e for e in log if e["type"] == "subagent.started"]
    completed = [e for e in log if e["type"] == "subagent.completed"]
    assert [(e["name"], e["child_run_id"], e["agent"], e["depth"]) for e in started] == [
        ("helper", child["id"], helper["id"], 1)
    ]
    assert [(e["child_run_id"], e["status"], e["output"]) for e in completed] == [
        (child["id"], "completed", "write a haiku")
    ]


async def test_parallel_agent_calls_run_concurrently_and_each_answers_its_own_call(client):
    await store_agent(
        client, "slow", builtin_tools=["wait"], instructions=call("wait", {"seconds": 0.3})
    )
    turn = "".join(call("slow", {"task": f"part {n}"}) for n in range(3))
    run = await submit(
        client, turn, agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "slow"}]}
    )
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed", ended
    kids = await children(client, run["id"])
    assert sorted(k["input"] for k in kids) == ["part 0", "part 1", "part 2"]
    starts = sorted(k["started_at"] for k in kids)
    ends = sorted(k["ended_at"] for k in kids)
    assert starts[-1] < ends[0], "the children ran one after another"
    assert ended["output"].count("slow returned: wait returned: waited 0.3 s") == 3


async def test_a_failed_child_is_the_call_error_and_the_parent_goes_on(client):
    await store_agent(client, "broken", instructions="[[fail provider_error it broke]]")
    run = await submit(
        client,
        call("broken", {"task": "try"}),
        agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "broken"}]},
    )
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed", ended
    [child] = await children(client, run["id"])
    assert child["status"] == "failed"
    assert ended["output"].startswith(f"broken failed: the subagent run {child['id']} failed: ")


async def test_an_ad_hoc_subagent_starts_at_once_and_its_result_is_waited_for(client):
    spec = {"model": "test", "builtin_tools": ["wait"], "tools": [{"type": "subagent"}]}
    run = await submit(
        client,
        call("subagent", {"prompt": "hello from the parent", "tools": []})
        + '[[then subagent_result {"run_id": "$result.run_id"}]]',
        agent_spec=spec,
    )
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed", ended
    [child] = await children(client, run["id"])
    assert child["status"] == "completed"
    assert child["output"] == "hello from the parent"
    answer = orjson.loads(ended["output"].removeprefix("subagent_result returned: "))
    assert answer == {"run_id": child["id"], "status": "completed", "output": child["output"]}
    log = await events(client, run["id"])
    assert [e["child_run_id"] for e in log if e["type"] == "subagent.completed"] == [child["id"]]


async def test_a_subagent_gets_no_tool_its_parent_does_not_have(client):
    spec = {"model": "test", "builtin_tools": ["wait"], "tools": [{"type": "subagent"}]}
    run = await submit(
        client, call("subagent", {"prompt": "x", "tools": ["bash"]}), agent_spec=spec
    )
    ended = await wait(client, run["id"])

    assert ended["output"].startswith("subagent failed: invalid_request: ")
    assert "bash" in ended["output"]
    assert await children(client, run["id"]) == []


async def test_a_subagent_result_names_only_the_run_s_own_children(client):
    other = await submit(client, "unrelated")
    await wait(client, other["id"])
    spec = {"model": "test", "tools": [{"type": "subagent"}]}
    run = await submit(client, call("subagent_result", {"run_id": other["id"]}), agent_spec=spec)
    ended = await wait(client, run["id"])

    assert ended["output"] == (
        f"subagent_result failed: there is no subagent run {other['id']!r} of this run"
    )


async def test_depth_beyond_the_limit_is_refused_with_its_own_code(make_settings):
    async with running_app(make_settings(subagent_max_depth=1)) as app, api_client(app) as client:
        await store_agent(client, "leaf")
        await store_agent(
            client,
            "deep",
            instructions=call("leaf", {"task": "never"}),
            tools=[{"type": "agent", "agent": "leaf"}],
        )
        run = await submit(
            client,
            call("deep", {"task": "go"}),
            agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "deep"}]},
        )
        ended = await wait(client, run["id"])
        assert ended["status"] == "completed", ended
        [child] = await children(client, run["id"])
        assert child["output"].startswith("leaf failed: subagent_depth_exceeded: ")
        assert await children(client, child["id"]) == []


async def test_cancelling_the_parent_cancels_its_children(client):
    await store_agent(
        client, "sleeper", builtin_tools=["wait"], instructions=call("wait", {"seconds": 30})
    )
    run = await submit(
        client,
        call("sleeper", {"task": "sleep"}),
        agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "sleeper"}]},
    )
    for _ in range(200):
        kids = await children(client, run["id"])
        if kids and kids[0]["status"] == "running":
            break
        await asyncio.sleep(0.02)
    cancelled = await client.post(f"/v1/runs/{run['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    [child] = await children(client, run["id"])
    ended = await wait(client, child["id"])
    assert ended["status"] == "cancelled"


async def test_a_stream_with_subagents_merges_the_tree_and_resumes_where_it_stopped(client):
    run = await two_deep(client)
    [middle] = await children(client, run["id"])
    [leaf] = await children(client, middle["id"])

    url = f"/v1/runs/{run['id']}/stream"
    response = await client.get(url, params={"include_subagents": "true"})
    frames = parse_sse(response.content)

    by_run: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        by_run.setdefault(frame["data"]["run_id"], []).append(frame["data"])
    for run_id in (run["id"], middle["id"], leaf["id"]):
        assert by_run[run_id] == await events(client, run_id), "a run's events, whole, in order"
    position = {(f["data"]["run_id"], f["data"]["seq"]): i for i, f in enumerate(frames)}
    started = next(e for e in by_run[run["id"]] if e["type"] == "subagent.started")
    assert position[(run["id"], started["seq"])] < position[(middle["id"], 1)]

    # A reconnect from the middle of the stream sends the rest, each event once.
    cut = next(i for i, f in enumerate(frames) if "id" in f and f["data"]["run_id"] == middle["id"])
    again = await client.get(
        url, params={"include_subagents": "true"}, headers={"Last-Event-ID": frames[cut]["id"]}
    )
    rest = [(f["data"]["run_id"], f["data"]["seq"]) for f in parse_sse(again.content)]
    expected = [(f["data"]["run_id"], f["data"]["seq"]) for f in frames[cut + 1 :]]
    assert sorted(rest) == sorted(expected)


async def test_a_stream_cursor_that_is_not_one_is_refused(client):
    run = await submit(client, "hi")
    response = await client.get(
        f"/v1/runs/{run['id']}/stream",
        params={"include_subagents": "true"},
        headers={"Last-Event-ID": "3;run_x:y"},
    )
    assert_error(response, 400, "invalid_request", "Last-Event-ID")


async def test_a_parent_that_times_out_while_it_waits_ends_its_children(client):
    await store_agent(
        client, "sleeper", builtin_tools=["wait"], instructions=call("wait", {"seconds": 30})
    )
    run = await submit(
        client,
        call("sleeper", {"task": "sleep"}),
        agent_spec={
            "model": "test",
            "tools": [{"type": "agent", "agent": "sleeper"}],
            "limits": {"timeout_s": 1},
        },
    )
    ended = await wait(client, run["id"])

    assert ended["status"] == "timed_out", ended
    [child] = await children(client, run["id"])
    child = await wait(client, child["id"])
    assert child["status"] == "cancelled"
    log = await events(client, child["id"])
    assert log[-1]["reason"] == f"the run {run['id']} above it ended timed_out"


async def test_deleting_a_run_deletes_the_runs_below_it(client):
    run = await two_deep(client)
    tree = (await client.get("/v1/runs", params={"root_run": run["id"]})).json()["data"]
    assert len(tree) == 2

    deleted = await client.delete(f"/v1/runs/{run['id']}")

    assert deleted.status_code == 204
    for below in tree:
        assert (await client.get(f"/v1/runs/{below['id']}")).status_code == 404


async def test_a_key_limited_to_some_agents_reaches_no_other_through_delegation(app, client):
    await store_agent(client, "inner")
    await store_agent(
        client,
        "middle",
        instructions=call("inner", {"task": "x"}),
        tools=[{"type": "agent", "agent": "inner"}],
    )
    await store_agent(client, "top", tools=[{"type": "agent", "agent": "middle"}])
    await store_agent(client, "direct", tools=[{"type": "agent", "agent": "inner"}])
    created = await client.post(
        "/v1/keys",
        json={
            "name": "limited",
            "scopes": ["runs:write", "runs:read"],
            "agents": ["top", "middle", "direct"],
        },
    )
    async with api_client(app, key=created.json()["secret"]) as limited:
        refused = await limited.post("/v1/runs", json={"agent": "direct", "input": "go"})
        assert_error(refused, 403, "forbidden", "/tools/0/agent")

        run = await submit(limited, call("middle", {"task": "go"}), agent="top")
        ended = await wait(limited, run["id"])
    assert ended["status"] == "completed", ended
    [middle] = await children(client, run["id"])
    assert middle["output"].startswith("inner failed: forbidden: ")
    assert await children(client, middle["id"]) == []


async def test_children_past_a_run_s_breadth_are_refused_with_their_own_code(make_settings):
    settings = make_settings(subagent_max_children=2)
    async with running_app(settings) as app, api_client(app) as client:
        await store_agent(client, "helper")
        turn = "".join(call("helper", {"task": f"part {n}"}) for n in range(3))
        run = await submit(
            client,
            turn,
            agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "helper"}]},
        )
        ended = await wait(client, run["id"])

        assert ended["status"] == "completed", ended
        assert sorted(k["input"] for k in await children(client, run["id"])) == [
            "part 0",
            "part 1",
        ]
        lines = ended["output"].split("\n")
        assert lines[:2] == ["helper returned: part 0", "helper returned: part 1"]
        assert lines[2].startswith("helper failed: subagent_breadth_exceeded: ")
        assert ended["subagents"] == 2
