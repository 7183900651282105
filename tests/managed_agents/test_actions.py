"""Turns that wait on the caller: custom tools, confirmations and interrupts."""

from __future__ import annotations

import pytest

from tests.managed_agents.test_turns import make_session, until_idle

pytestmark = pytest.mark.timeout(60)

LOOKUP = {
    "type": "custom",
    "name": "lookup",
    "description": "Look a word up.",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}


async def say(client, session_id: str, text: str) -> None:
    await client.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
    )


async def test_a_custom_tool_round_trip(client):
    session_id, _ = await make_session(client, tools=[LOOKUP])

    stream = await client.beta.sessions.events.stream(session_id)
    await say(client, session_id, "look it up")
    first = await until_idle(stream)
    call = next(e for e in first if e.type == "agent.custom_tool_use")
    idle = first[-1]
    assert call.name == "lookup" and "q" in call.input
    assert idle.stop_reason.type == "requires_action"
    assert idle.stop_reason.event_ids == [call.id]
    assert (await client.beta.sessions.retrieve(session_id)).status == "running"

    sent = await client.beta.sessions.events.send(
        session_id,
        events=[
            {
                "type": "user.custom_tool_result",
                "custom_tool_use_id": call.id,
                "content": [{"type": "text", "text": "a small bird"}],
            }
        ],
    )
    rest = await until_idle(stream)

    assert sent.data[0].type == "user.custom_tool_result" and sent.data[0].processed_at is None
    types = [e.type for e in rest]
    assert types[:2] == ["user.custom_tool_result", "session.status_running"]
    assert rest[0].custom_tool_use_id == call.id
    answer = next(e for e in rest if e.type == "agent.message")
    assert "a small bird" in answer.content[0].text
    assert rest[-1].stop_reason.type == "end_turn"


ASKING_TOOLSET = {
    "type": "agent_toolset_20260401",
    "default_config": {"permission_policy": {"type": "always_ask"}},
}


@pytest.mark.parametrize("decision", ["allow", "deny"])
async def test_always_ask_holds_a_call_until_it_is_confirmed(client, decision):
    session_id, agent_id = await make_session(client, tools=[ASKING_TOOLSET])
    agent = await client.beta.agents.retrieve(agent_id)
    bash = next(c for c in agent.tools[0].configs if c.name == "bash")
    assert bash.enabled and bash.permission_policy.type == "always_ask"

    stream = await client.beta.sessions.events.stream(session_id)
    await say(client, session_id, '[[call bash {"command": "echo held"}]]')
    first = await until_idle(stream)
    use = next(e for e in first if e.type == "agent.tool_use")
    assert use.name == "bash" and use.evaluated_permission == "ask"
    assert first[-1].stop_reason.type == "requires_action"
    assert first[-1].stop_reason.event_ids == [use.id]

    confirmation = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": decision}
    if decision == "deny":
        confirmation["deny_message"] = "not on this machine"
    await client.beta.sessions.events.send(session_id, events=[confirmation])
    rest = await until_idle(stream)

    confirmed = rest[0]
    assert confirmed.type == "user.tool_confirmation" and confirmed.result == decision
    result = next(e for e in rest if e.type == "agent.tool_result")
    assert result.tool_use_id == use.id
    if decision == "allow":
        assert not result.is_error and "held" in result.content[0].text
    else:
        assert result.is_error and "not on this machine" in result.content[0].text
    assert rest[-1].stop_reason.type == "end_turn"


async def test_an_interrupt_stops_the_turn_mid_stream(client):
    session_id, _ = await make_session(client)

    stream = await client.beta.sessions.events.stream(session_id, event_deltas=["agent.message"])
    await say(client, session_id, "[[deltas 50]] [[stream_delay 100ms]] a long answer")
    async for event in stream:
        if event.type == "event_delta":
            break
    await client.beta.sessions.events.send(session_id, events=[{"type": "user.interrupt"}])
    rest = await until_idle(stream)

    assert "agent.message" not in [e.type for e in rest]
    assert rest[-1].stop_reason.type == "end_turn"
    assert (await client.beta.sessions.retrieve(session_id)).status == "idle"
