"""A coordinator and its roster: subagent calls are the session's threads."""

from __future__ import annotations

import pytest

from tests.managed_agents.test_turns import until_idle

pytestmark = pytest.mark.timeout(60)


async def test_a_coordinator_hands_a_task_to_a_thread_with_its_own_events(client):
    env = await client.beta.environments.create(name="dev", config={"type": "cloud"})
    worker = await client.beta.agents.create(
        name="Researcher", model="test", description="Finds things out."
    )
    lead = await client.beta.agents.create(
        name="lead",
        model="test",
        multiagent={"type": "coordinator", "agents": [{"type": "agent", "id": worker.id}]},
    )
    assert lead.multiagent.type == "coordinator"
    assert [(a.id, a.version) for a in lead.multiagent.agents] == [(worker.id, worker.version)]
    session = await client.beta.sessions.create(agent=lead.id, environment_id=env.id)

    stream = await client.beta.sessions.events.stream(session.id)
    await client.beta.sessions.events.send(
        session.id,
        events=[
            {
                "type": "user.message",
                "content": [{"type": "text", "text": '[[call researcher {"task": "owls"}]]'}],
            }
        ],
    )
    seen = await until_idle(stream)

    types = [e.type for e in seen]
    created = seen[types.index("session.thread_created")]
    sent = seen[types.index("agent.thread_message_sent")]
    running = seen[types.index("session.thread_status_running")]
    received = seen[types.index("agent.thread_message_received")]
    idle = seen[types.index("session.thread_status_idle")]
    thread_id = created.session_thread_id
    assert created.agent_name == "researcher"
    assert sent.to_session_thread_id == thread_id and sent.content[0].text == "owls"
    assert running.session_thread_id == thread_id and running.agent_name == "researcher"
    assert types.index("session.thread_status_running") < types.index("session.thread_status_idle")
    assert received.from_session_thread_id == thread_id and "owls" in received.content[0].text
    assert idle.session_thread_id == thread_id
    assert seen[-1].stop_reason.type == "end_turn"

    threads = [t async for t in client.beta.sessions.threads.list(session.id)]
    assert [t.id for t in threads] == [thread_id]
    thread = await client.beta.sessions.threads.retrieve(thread_id, session_id=session.id)
    assert thread.status == "idle" and thread.agent.id == worker.id
    assert thread.usage.output_tokens > 0
    own = [
        e async for e in client.beta.sessions.threads.events.list(thread_id, session_id=session.id)
    ]
    assert own[0].type == "user.message" and own[0].content[0].text == "owls"
    assert own[-1].type == "session.status_idle"
    replayed = await until_idle(
        await client.beta.sessions.threads.events.stream(thread_id, session_id=session.id)
    )
    assert [e.id for e in replayed] == [e.id for e in own]


async def test_a_roster_refuses_what_has_no_equivalent(client):
    import anthropic

    with pytest.raises(anthropic.BadRequestError) as raised:
        await client.beta.agents.create(
            name="lead",
            model="test",
            multiagent={"type": "coordinator", "agents": [{"type": "self"}]},
        )

    assert "/multiagent/agents/0" in raised.value.body["error"]["message"]
