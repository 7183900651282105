from __future__ import annotations

import pytest

from tests.helpers import events, submit, wait

ECHO_TOOL = {"type": "client", "name": "noop", "parameters": {"type": "object", "properties": {}}}


async def failure_of(client, input: str, limits: dict, **body) -> dict:
    run = await submit(client, input, agent_spec={"model": "test", "limits": limits}, **body)
    ended = await wait(client, run["id"], timeout_s=10)
    log = await events(client, run["id"])
    assert log[-1]["type"] in ("run.failed", "run.timed_out")
    assert log[-1]["error"] == ended["error"]
    return ended


async def test_a_run_that_keeps_calling_tools_stops_at_max_turns(client):
    ended = await failure_of(client, "[[loop]] [[call missing_tool]]", {"max_turns": 3})

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "max_turns_exceeded"
    completed = [e for e in await events(client, ended["id"]) if e["type"] == "message.completed"]
    assert len(completed) == 3


async def test_a_turn_with_too_many_tool_calls_fails_the_run(client):
    ended = await failure_of(
        client, "[[call a]] [[call b]] [[call c]]", {"max_tool_calls_per_turn": 2}
    )

    assert ended["error"]["code"] == "max_tool_calls_exceeded"


async def test_a_run_that_generates_more_tokens_than_its_budget_fails(client):
    ended = await failure_of(client, "[[tokens 10 500]] hi", {"max_output_tokens": 100})

    assert ended["error"]["code"] == "max_output_tokens_exceeded"
    assert ended["usage"]["output_tokens"] == 500


async def test_a_run_that_exceeds_its_timeout_ends_timed_out(client):
    ended = await failure_of(client, "[[delay 5s]] slow", {"timeout_s": 0.3})

    assert ended["status"] == "timed_out"
    assert ended["error"]["code"] == "run_timeout"


async def test_a_run_waiting_for_a_client_tool_also_times_out(client):
    ended = await failure_of(client, "go", {"timeout_s": 0.3}, tools=[ECHO_TOOL])

    assert ended["status"] == "timed_out"


async def test_a_provider_failure_fails_the_run_with_its_code(client):
    run = await submit(client, "[[fail provider_error upstream exploded]]")
    ended = await wait(client, run["id"])

    assert ended["status"] == "failed"
    assert ended["error"] == {"code": "provider_error", "message": "upstream exploded"}


@pytest.mark.parametrize(
    ("limits", "expected"),
    [({}, 32), ({"max_turns": 5}, 5)],
    ids=["server default", "agent limit"],
)
async def test_limits_left_unset_take_the_server_defaults(client, limits, expected):
    ended = await failure_of(client, "[[loop]] [[call missing_tool]]", limits)

    assert f"limit of {expected} model turns" in ended["error"]["message"]
