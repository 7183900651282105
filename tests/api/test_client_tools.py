from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import assert_error, events, submit, wait

WEATHER = {
    "type": "client",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def wait_for_status(client, run_id: str, status: str) -> dict[str, Any]:
    for _ in range(200):
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        if run["status"] == status:
            return dict(run)
        await asyncio.sleep(0.02)
    raise AssertionError(f"run never became {status}: {run}")


async def test_a_client_tool_call_parks_the_run_until_the_caller_posts_the_result(client):
    run = await submit(client, "weather?", agent_spec={"model": "test", "tools": [WEATHER]})

    waiting = await wait_for_status(client, run["id"], "waiting")
    [call] = waiting["pending_tool_calls"]
    assert call["name"] == "get_weather"
    assert call["input"] == {"city": "example"}

    answer = await client.post(
        f"/v1/runs/{run['id']}/tool-results",
        json={"call_id": call["call_id"], "output": "sunny, 21 C"},
    )
    assert answer.status_code == 200, answer.text
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert ended["output"] == "get_weather returned: sunny, 21 C"
    assert ended["pending_tool_calls"] == []
    types = [e["type"] for e in await events(client, run["id"])]
    assert types.index("client_tool.call") < types.index("client_tool.result")
    assert types.count("client_tool.call") == types.count("client_tool.result") == 1


async def test_client_tools_can_be_given_with_the_run_instead_of_the_agent(client):
    run = await submit(client, "go", tools=[WEATHER])

    waiting = await wait_for_status(client, run["id"], "waiting")
    call_id = waiting["pending_tool_calls"][0]["call_id"]
    await client.post(
        f"/v1/runs/{run['id']}/tool-results", json={"call_id": call_id, "output": "rain"}
    )

    assert (await wait(client, run["id"]))["output"] == "get_weather returned: rain"


async def test_a_tool_error_is_given_to_the_model_and_the_run_goes_on(client):
    run = await submit(client, "go", tools=[WEATHER])
    call_id = (await wait_for_status(client, run["id"], "waiting"))["pending_tool_calls"][0][
        "call_id"
    ]

    await client.post(
        f"/v1/runs/{run['id']}/tool-results", json={"call_id": call_id, "error": "no network"}
    )
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert ended["output"] == "get_weather failed: no network"
    result = [e for e in await events(client, run["id"]) if e["type"] == "client_tool.result"]
    assert result[0]["error"] == "no network"


async def test_several_client_calls_in_one_turn_all_wait_for_their_results(client):
    tools = [WEATHER, {**WEATHER, "name": "get_time"}]
    run = await submit(
        client,
        '[[call get_weather {"city": "Oslo"}]] [[call get_time {"city": "Lima"}]]',
        tools=tools,
    )
    waiting = await wait_for_status(client, run["id"], "waiting")
    calls = {c["name"]: c for c in waiting["pending_tool_calls"]}
    assert calls["get_weather"]["input"] == {"city": "Oslo"}

    await client.post(
        f"/v1/runs/{run['id']}/tool-results",
        json={"call_id": calls["get_time"]["call_id"], "output": "noon"},
    )
    still = (await client.get(f"/v1/runs/{run['id']}")).json()
    await client.post(
        f"/v1/runs/{run['id']}/tool-results",
        json={"call_id": calls["get_weather"]["call_id"], "output": "snow"},
    )
    ended = await wait(client, run["id"])

    assert still["status"] == "waiting"
    assert ended["output"] == "get_weather returned: snow\nget_time returned: noon"


async def test_answering_a_call_twice_or_an_unknown_call_is_refused(client):
    run = await submit(client, "go", tools=[WEATHER])
    call_id = (await wait_for_status(client, run["id"], "waiting"))["pending_tool_calls"][0][
        "call_id"
    ]
    url = f"/v1/runs/{run['id']}/tool-results"

    unknown = await client.post(url, json={"call_id": "call_nope", "output": "x"})
    first = await client.post(url, json={"call_id": call_id, "output": "x"})
    await wait(client, run["id"])
    again = await client.post(url, json={"call_id": call_id, "output": "x"})

    assert_error(unknown, 404, "unknown_tool_call", "/call_id")
    assert first.status_code == 200
    assert_error(again, 409, "run_terminal")


async def test_a_run_fails_with_client_tool_timeout_when_no_result_arrives(client):
    tool = {**WEATHER, "timeout_s": 0.3}
    run = await submit(client, "go", tools=[tool])

    ended = await wait(client, run["id"], timeout_s=5)

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "client_tool_timeout"
    log = await events(client, run["id"])
    assert log[-1]["type"] == "run.failed"
    assert log[-1]["error"]["code"] == "client_tool_timeout"


async def test_cancelling_a_waiting_run_ends_it_at_once(client):
    run = await submit(client, "go", tools=[WEATHER])
    await wait_for_status(client, run["id"], "waiting")

    cancelled = await client.post(f"/v1/runs/{run['id']}/cancel")

    assert cancelled.json()["status"] == "cancelled"
    assert (await wait(client, run["id"], timeout_s=1))["status"] == "cancelled"


async def test_a_call_to_a_tool_the_agent_does_not_have_returns_an_error_to_the_model(client):
    run = await submit(client, "[[call launch_rockets]]")

    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert ended["output"] == "launch_rockets failed: unknown tool 'launch_rockets'"
    completed = [e for e in await events(client, run["id"]) if e["type"] == "tool.completed"]
    assert completed[0]["ok"] is False


async def test_runs_waiting_for_their_caller_do_not_take_a_workers_capacity(make_settings):
    from tests.conftest import api_client, running_app

    async with running_app(make_settings(worker_concurrency=1)) as app, api_client(app) as client:
        parked = [await submit(client, "go", tools=[WEATHER]) for _ in range(3)]
        for run in parked:
            await wait_for_status(client, run["id"], "waiting")

        other = await wait(client, (await submit(client, "still served"))["id"], timeout_s=5)

        assert other["status"] == "completed"
        for run in parked:
            await client.post(f"/v1/runs/{run['id']}/cancel")


async def test_listed_runs_show_their_pending_tool_calls_too(client):
    run = await submit(client, "go", tools=[WEATHER])
    waiting = await wait_for_status(client, run["id"], "waiting")

    listed = (await client.get("/v1/runs", params={"status": "waiting"})).json()["data"]

    assert listed[0]["pending_tool_calls"] == waiting["pending_tool_calls"]
    await client.post(f"/v1/runs/{run['id']}/cancel")
