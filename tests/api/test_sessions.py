from __future__ import annotations

import asyncio
import itertools

from tests.helpers import assert_error, events, parse_sse, wait


async def open_session(client, **body):
    body.setdefault("agent_spec", {"model": "test"})
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def send(client, session_id: str, text: str, **body):
    response = await client.post(
        f"/v1/sessions/{session_id}/messages", json={"input": text, **body}
    )
    assert response.status_code == 202, response.text
    return response.json()


async def test_a_new_session_is_idle_with_no_messages(client):
    session = await open_session(client, metadata={"customer": "acme"})

    assert session["id"].startswith("ses_")
    assert session["status"] == "idle"
    assert session["messages"] == []
    assert session["metadata"] == {"customer": "acme"}


async def test_each_run_sees_the_whole_prior_conversation(client):
    session = await open_session(client)

    first = await send(client, session["id"], "first message")
    await wait(client, first["id"])
    second = await send(client, session["id"], "second message")
    ended = await wait(client, second["id"])

    assert ended["session"] == session["id"]
    assert ended["output"] == "second message"
    current = (await client.get(f"/v1/sessions/{session['id']}")).json()
    assert current["status"] == "idle"
    assert [(m["role"], m["content"]) for m in current["messages"]] == [
        ("user", "first message"),
        ("assistant", [{"type": "text", "text": "first message"}]),
        ("user", "second message"),
        ("assistant", [{"type": "text", "text": "second message"}]),
    ]
    # The second run's prompt carried the first exchange: more input tokens.
    first_run = await wait(client, first["id"])
    assert ended["usage"]["input_tokens"] > first_run["usage"]["input_tokens"]


async def test_messages_sent_while_a_run_is_active_queue_and_run_in_order(client):
    session = await open_session(client)

    runs = [await send(client, session["id"], f"[[delay 100ms]] message {i}") for i in range(3)]
    busy = (await client.get(f"/v1/sessions/{session['id']}")).json()
    ended = [await wait(client, run["id"]) for run in runs]

    assert busy["status"] == "running"
    assert all(run["status"] == "completed" for run in ended)
    # Strictly one after the other: each started after the previous one ended.
    for earlier, later in itertools.pairwise(ended):
        assert later["started_at"] >= earlier["ended_at"]
    messages = (await client.get(f"/v1/sessions/{session['id']}")).json()["messages"]
    texts = [m["content"] for m in messages if m["role"] == "user"]
    assert texts == [f"[[delay 100ms]] message {i}" for i in range(3)]


async def test_message_metadata_merges_over_the_session_metadata(client):
    session = await open_session(client, metadata={"customer": "acme", "env": "prod"})

    run = await send(client, session["id"], "hi", metadata={"env": "staging", "trace": "t1"})

    assert run["metadata"] == {"customer": "acme", "env": "staging", "trace": "t1"}


async def test_a_session_can_use_a_stored_agent_and_runs_record_it(client):
    agent = (await client.post("/v1/agents", json={"name": "helper", "model": "test"})).json()
    session = await open_session(client, agent="helper", agent_spec=None)

    run = await send(client, session["id"], "hello")

    assert session["agent"] == agent["id"]
    assert session["agent_version"] == 1
    assert (await wait(client, run["id"]))["agent"] == agent["id"]


async def test_a_run_submitted_with_session_joins_the_session(client):
    session = await open_session(client)

    response = await client.post("/v1/runs", json={"session": session["id"], "input": "via runs"})
    ended = await wait(client, response.json()["id"])

    assert response.status_code == 202
    assert ended["session"] == session["id"]
    messages = (await client.get(f"/v1/sessions/{session['id']}")).json()["messages"]
    assert messages[0]["content"] == "via runs"


async def test_ending_a_session_cancels_its_runs_and_refuses_new_messages(client):
    session = await open_session(client)
    active = await send(client, session["id"], "[[delay 30s]] long")
    queued = await send(client, session["id"], "after")

    ended = await client.delete(f"/v1/sessions/{session['id']}")

    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert (await wait(client, active["id"], timeout_s=2))["status"] == "cancelled"
    assert (await wait(client, queued["id"], timeout_s=2))["status"] == "cancelled"
    assert_error(
        await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "more"}),
        409,
        "session_ended",
    )


async def test_a_failed_run_leaves_the_conversation_unchanged(client):
    session = await open_session(client)

    run = await send(client, session["id"], "[[fail provider_error boom]]")
    ended = await wait(client, run["id"])

    assert ended["status"] == "failed"
    assert (await client.get(f"/v1/sessions/{session['id']}")).json()["messages"] == []


async def test_sessions_are_listed_newest_first_without_messages(client):
    first = await open_session(client)
    second = await open_session(client)

    page = (await client.get("/v1/sessions")).json()

    assert [s["id"] for s in page["data"]][:2] == [second["id"], first["id"]]
    assert "messages" not in page["data"][0]


async def test_the_session_stream_carries_every_event_of_every_run_in_order(live_server):
    async with live_server.client() as client:
        session = await open_session(client)
        first = await send(client, session["id"], "one")
        second = await send(client, session["id"], "two")
        await wait(client, second["id"])
        await client.delete(f"/v1/sessions/{session['id']}")

        response = await client.get(f"/v1/sessions/{session['id']}/stream", timeout=10)
        frames = parse_sse(response.content)
        first_log = await events(client, first["id"])

    assert [int(f["id"]) for f in frames] == list(range(1, len(frames) + 1))
    run_ids = [f["data"]["run_id"] for f in frames]
    assert run_ids == [first["id"]] * len(first_log) + [second["id"]] * (
        len(frames) - len(first_log)
    )
    assert [f["data"] for f in frames[: len(first_log)]] == first_log
    assert sum(f["event"] == "run.completed" for f in frames) == 2


async def test_the_session_stream_resumes_after_a_cursor_and_follows_live_runs(live_server):
    async with live_server.client() as client:
        session = await open_session(client)
        first = await send(client, session["id"], "one")
        await wait(client, first["id"])
        received: list[dict] = []

        async def follow() -> None:
            async with client.stream(
                "GET",
                f"/v1/sessions/{session['id']}/stream",
                headers={"Last-Event-ID": "2"},
                timeout=10,
            ) as response:
                buffer = b""
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    received[:] = parse_sse(buffer)
                    if sum(f["event"] == "run.completed" for f in received) == 2:
                        return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        second = await send(client, session["id"], "two")
        await asyncio.wait_for(follower, 10)
        await wait(client, second["id"])

    assert [int(f["id"]) for f in received] == list(range(3, 3 + len(received)))
    assert received[-1]["data"]["run_id"] == second["id"]
