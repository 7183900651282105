"""A session's turns through the SDK: plain, streamed with previews, paged and resumed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic import AsyncAnthropic

pytestmark = pytest.mark.timeout(60)


async def make_session(client: AsyncAnthropic, **agent: Any) -> tuple[str, str]:
    """An environment, an agent on the test model, and a session of both: (session id, agent id)."""
    env = await client.beta.environments.create(
        name="dev", config={"type": "cloud", "networking": {"type": "unrestricted"}}
    )
    made = await client.beta.agents.create(
        name=agent.pop("name", "helper"), model="test", system="Be brief.", **agent
    )
    session = await client.beta.sessions.create(agent=made.id, environment_id=env.id)
    return session.id, made.id


async def send_text(client: AsyncAnthropic, session_id: str, text: str) -> None:
    """Send the session one `user.message` of one text block."""
    await client.beta.sessions.events.send(
        session_id,
        events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}],
    )


async def until_idle(stream: Any) -> list[Any]:
    seen = []
    async for event in stream:
        seen.append(event)
        if event.type == "session.status_idle":
            break
    return seen


async def test_a_plain_turn_streams_and_lists_the_same_events(client):
    session_id, _ = await make_session(client)

    stream = await client.beta.sessions.events.stream(session_id)
    await send_text(client, session_id, "hello")
    streamed = await until_idle(stream)
    listed = [e async for e in client.beta.sessions.events.list(session_id)]

    assert [e.type for e in streamed] == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.status_idle",
    ]
    assert [e.id for e in listed] == [e.id for e in streamed]
    assert streamed[0].content[0].text == "hello"
    assert streamed[-1].stop_reason.type == "end_turn"
    reply = streamed[3]
    assert reply.content[0].text
    session = await client.beta.sessions.retrieve(session_id)
    assert session.status == "idle"
    assert session.usage.output_tokens > 0


async def test_a_stream_asked_for_previews_gets_the_message_in_pieces_first(client):
    session_id, _ = await make_session(client)

    stream = await client.beta.sessions.events.stream(session_id, event_deltas=["agent.message"])
    await client.beta.sessions.events.send(
        session_id,
        events=[{"type": "user.message", "content": [{"type": "text", "text": "[[deltas 4]] hi"}]}],
    )
    streamed = await until_idle(stream)

    types = [e.type for e in streamed]
    start = streamed[types.index("event_start")]
    message = streamed[types.index("agent.message")]
    pieces = [e for e in streamed if e.type == "event_delta"]
    assert types.index("event_start") < types.index("event_delta") < types.index("agent.message")
    assert start.event.type == "agent.message" and start.event.id == message.id
    assert all(p.event_id == message.id for p in pieces)
    assert "".join(p.delta.content.text for p in pieces) == message.content[0].text
    listed = [e.type async for e in client.beta.sessions.events.list(session_id)]
    assert "event_delta" not in listed and "event_start" not in listed


async def test_events_page_and_a_stream_resumes_after_the_last_event_seen(client):
    session_id, _ = await make_session(client)
    for text in ("one", "two"):
        stream = await client.beta.sessions.events.stream(session_id)
        await send_text(client, session_id, text)
        await until_idle(stream)

    every = [e async for e in client.beta.sessions.events.list(session_id)]
    first = await client.beta.sessions.events.list(session_id, limit=3)
    second = await client.beta.sessions.events.list(session_id, limit=3, page=first.next_page)
    paged = [e async for e in client.beta.sessions.events.list(session_id, limit=2)]
    newest = await client.beta.sessions.events.list(session_id, order="desc", limit=1)
    backwards = [
        e async for e in client.beta.sessions.events.list(session_id, order="desc", limit=2)
    ]
    last_message = await client.beta.sessions.events.list(
        session_id, order="desc", limit=1, types=["user.message"]
    )
    messages = await client.beta.sessions.events.list(session_id, types=["user.message"])

    assert [e.id for e in paged] == [e.id for e in every]
    assert [e.id for e in first.data + second.data] == [e.id for e in every][
        : len(first.data + second.data)
    ]
    assert newest.data[0].id == every[-1].id
    assert [e.id for e in backwards] == [e.id for e in reversed(every)]
    assert [m.content[0].text for m in last_message.data] == ["two"]
    assert [m.content[0].text for m in messages.data] == ["one", "two"]
    # Resume after the first turn's idle event: the stream replays the second turn.
    first_idle = next(e for e in every if e.type == "session.status_idle")
    resumed = await client.beta.sessions.events.stream(
        session_id, extra_headers={"Last-Event-ID": first_idle.id}
    )
    replayed = await until_idle(resumed)
    later = [e.id for e in every[every.index(first_idle) + 1 :]]
    assert [e.id for e in replayed] == later


async def test_the_sync_client_runs_the_same_program(clients):
    sync, _ = clients

    def program() -> list[str]:
        env = sync.beta.environments.create(name="dev", config={"type": "cloud"})
        agent = sync.beta.agents.create(name="sync-helper", model="test")
        session = sync.beta.sessions.create(agent=agent.id, environment_id=env.id)
        seen = []
        with sync.beta.sessions.events.stream(session.id) as stream:
            sync.beta.sessions.events.send(
                session.id,
                events=[{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}],
            )
            for event in stream:
                seen.append(event.type)
                if event.type == "session.status_idle":
                    break
        return seen

    seen = await asyncio.to_thread(program)

    assert seen[0] == "user.message" and seen[-1] == "session.status_idle"
    assert "agent.message" in seen


async def test_a_message_sent_before_the_stream_opens_is_still_seen(client):
    """The stream starts at the turn in flight, so send-then-stream does not miss the turn."""
    session_id, _ = await make_session(client)

    await client.beta.sessions.events.send(
        session_id,
        events=[
            {"type": "user.message", "content": [{"type": "text", "text": "[[delay 1500ms]] hi"}]}
        ],
    )
    streamed = await until_idle(await client.beta.sessions.events.stream(session_id))

    assert streamed[0].type == "user.message"
    assert streamed[-1].stop_reason.type == "end_turn"


async def test_an_archived_session_ends_its_log_with_terminated(client):
    session_id, _ = await make_session(client)
    stream = await client.beta.sessions.events.stream(session_id)
    await send_text(client, session_id, "hi")
    await until_idle(stream)

    archived = await client.beta.sessions.archive(session_id)
    rest = [e async for e in stream]
    listed = [e async for e in client.beta.sessions.events.list(session_id)]

    assert archived.status == "terminated" and archived.archived_at is not None
    assert [e.type for e in rest] == ["session.status_terminated"]
    assert listed[-1].type == "session.status_terminated" and listed[-1].id == rest[0].id
    backwards = [
        e async for e in client.beta.sessions.events.list(session_id, order="desc", limit=3)
    ]
    assert [e.id for e in backwards] == [e.id for e in reversed(listed)]
    paged = [e async for e in client.beta.sessions.events.list(session_id, limit=len(listed) - 1)]
    assert [e.id for e in paged] == [e.id for e in listed]
    sessions = [s.id async for s in client.beta.sessions.list()]
    assert session_id not in sessions
    assert session_id in [s.id async for s in client.beta.sessions.list(include_archived=True)]


async def test_a_session_deleted_under_a_stream_ends_it_with_session_deleted(client):
    import anthropic

    session_id, _ = await make_session(client)
    stream = await client.beta.sessions.events.stream(session_id)
    await send_text(client, session_id, "hi")
    turn = await until_idle(stream)

    await client.beta.sessions.delete(session_id)
    rest = [e async for e in stream]

    assert [e.type for e in rest] == ["session.deleted"]
    assert rest[0].id not in {e.id for e in turn}
    with pytest.raises(anthropic.NotFoundError):
        await client.beta.sessions.retrieve(session_id)


async def test_a_file_resource_is_in_the_workspace_at_its_mount_path(client, live_server):
    async with live_server.client() as corral:
        uploaded = await corral.post("/v1/files", files={"file": ("notes.txt", b"pelicans fly")})
    file_id = uploaded.json()["id"]
    env = await client.beta.environments.create(name="dev", config={"type": "cloud"})
    agent = await client.beta.agents.create(
        name="reader", model="test", tools=[{"type": "agent_toolset_20260401"}]
    )
    session = await client.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        resources=[{"type": "file", "file_id": file_id, "mount_path": "/data/notes.txt"}],
    )
    assert [(r.file_id, r.mount_path) for r in session.resources] == [(file_id, "/data/notes.txt")]

    stream = await client.beta.sessions.events.stream(session.id)
    await client.beta.sessions.events.send(
        session.id,
        events=[
            {
                "type": "user.message",
                "content": [{"type": "text", "text": '[[call read {"path": "data/notes.txt"}]]'}],
            }
        ],
    )
    seen = await until_idle(stream)

    result = next(e for e in seen if e.type == "agent.tool_result")
    assert not result.is_error and "pelicans fly" in result.content[0].text


async def test_a_repository_resource_is_refused_naming_it(client):
    import anthropic

    env = await client.beta.environments.create(name="dev", config={"type": "cloud"})
    agent = await client.beta.agents.create(name="repo", model="test")
    with pytest.raises(anthropic.BadRequestError) as raised:
        await client.beta.sessions.create(
            agent=agent.id,
            environment_id=env.id,
            resources=[{"type": "github_repository", "url": "https://github.com/a/b"}],
        )

    assert "/resources/0/type" in raised.value.body["error"]["message"]
