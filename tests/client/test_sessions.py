from __future__ import annotations

import asyncio

import pytest

from corral.client import ConflictError, InvalidRequestError, NotFoundError
from corral.types.events import RunCompleted
from corral.types.runs import Run, RunStatus
from corral.types.sessions import Session, SessionStatus, SessionSummary
from tests.client.conftest import drain


async def test_a_session_is_created_from_a_model_an_agent_or_a_spec(sdk):
    await sdk.agents.create(name="chat", model="test")

    from_model = await sdk.sessions.create(model="test", metadata={"user": "ada"})
    from_agent = await sdk.sessions.create(agent="chat", agent_version=1)
    from_spec = await sdk.sessions.create(agent_spec={"model": "test"})

    assert isinstance(from_model, Session)
    assert from_model.id.startswith("ses_")
    assert (from_model.status, from_model.messages) == (SessionStatus.IDLE, [])
    assert from_model.metadata == {"user": "ada"}
    assert (from_agent.agent_version, from_agent.model) == (1, "test")
    assert from_spec.agent is None


async def test_send_returns_the_completed_run_and_the_history_is_there_at_once(sdk):
    session = await sdk.sessions.create(model="test")

    first = await sdk.sessions.send(session.id, input="My name is Ada.")
    second = await sdk.sessions.send(session.id, input="What is my name?", metadata={"n": "2"})
    history = await sdk.sessions.retrieve(session.id)

    assert isinstance(first, Run)
    assert (first.status, first.output, first.session) == (
        "completed",
        "My name is Ada.",
        session.id,
    )
    assert second.metadata == {"n": "2"}
    assert [m.role for m in history.messages] == ["user", "assistant"] * 2
    assert [m.content for m in history.messages[::2]] == ["My name is Ada.", "What is my name?"]
    assert history.status == SessionStatus.IDLE


async def test_send_executes_client_tools_here(sdk):
    session = await sdk.sessions.create(model="test")

    def lookup(topic: str) -> str:
        """Look a topic up."""
        return f"all about {topic}"

    run = await sdk.sessions.send(session.id, input="look it up", tools=[lookup])

    assert run.output == "lookup returned: all about example"
    assert (
        len((await sdk.sessions.retrieve(session.id)).messages) == 4
    )  # user, call, result, answer


async def test_messages_create_queues_runs_that_execute_in_order(sdk):
    session = await sdk.sessions.create(model="test")

    first = await sdk.sessions.messages.create(session.id, input="[[delay 200ms]] one")
    second = await sdk.sessions.messages.create(session.id, input="two")
    busy = await sdk.sessions.retrieve(session.id)
    ended_second = await sdk.runs.wait(second.id)
    ended_first = await sdk.runs.retrieve(first.id)

    assert busy.status == SessionStatus.RUNNING
    assert ended_first.ended_at <= ended_second.started_at
    assert [r.id for r in await drain(await sdk.runs.list(session=session.id))] == [
        second.id,
        first.id,
    ]


async def test_listing_sessions_walks_every_page(sdk):
    created = [(await sdk.sessions.create(model="test")).id for _ in range(5)]

    first = await sdk.sessions.list(limit=2)
    every = await drain(first)

    assert len(first.data) == 2
    assert [s.id for s in every] == created[::-1]
    assert all(isinstance(s, SessionSummary) for s in every)


async def test_an_ended_session_refuses_messages_and_an_unknown_one_is_not_found(sdk):
    session = await sdk.sessions.create(model="test")

    ended = await sdk.sessions.end(session.id)

    assert ended.status == SessionStatus.ENDED
    with pytest.raises(ConflictError):
        await sdk.sessions.send(session.id, input="anyone?")
    with pytest.raises(NotFoundError):
        await sdk.sessions.retrieve("ses_missing")


async def test_the_session_stream_carries_every_run_in_order_and_ends_with_the_session(sdk):
    session = await sdk.sessions.create(model="test")
    first = await sdk.sessions.send(session.id, input="one")
    second = await sdk.sessions.send(session.id, input="two")
    await sdk.sessions.end(session.id)

    streamed = await drain(await sdk.sessions.stream(session.id))
    resumed = await drain(await sdk.sessions.stream(session.id, after=3))

    log = await sdk.runs.events(first.id) + await sdk.runs.events(second.id)
    assert streamed == log
    assert resumed == log[3:]


async def test_the_session_stream_follows_runs_sent_while_it_is_open(sdk):
    session = await sdk.sessions.create(model="test")
    stream = await sdk.sessions.stream(session.id)
    received = []

    async def follow() -> None:
        if sdk.is_async:
            async with stream:
                async for event in stream:
                    received.append(event)
                    if sum(isinstance(e, RunCompleted) for e in received) == 2:
                        return
        else:

            def read() -> None:
                with stream:
                    for event in stream:
                        received.append(event)
                        if sum(isinstance(e, RunCompleted) for e in received) == 2:
                            return

            await asyncio.to_thread(read)

    following = asyncio.create_task(follow())
    first = await sdk.sessions.send(session.id, input="one")
    second = await sdk.sessions.send(session.id, input="two")
    await asyncio.wait_for(following, 10)

    assert received == await sdk.runs.events(first.id) + await sdk.runs.events(second.id)
    assert (first.status, second.status) == (RunStatus.COMPLETED, RunStatus.COMPLETED)


async def test_a_sessions_spend_cap_is_set_when_it_opens_and_changed_later(sdk):
    priced = "claude-haiku-4-5"  # no run is sent: the key only has to be there
    keys = {"anthropic": "sk-ant-test"}

    capped = await sdk.sessions.create(model=priced, api_keys=keys, max_spend_usd=1.5)
    raised = await sdk.sessions.update(capped.id, max_spend_usd=4.0)
    removed = await sdk.sessions.update(capped.id, max_spend_usd=None)
    with pytest.raises(InvalidRequestError) as unpriced:
        await sdk.sessions.create(model="test", max_spend_usd=1.0)

    assert (capped.max_spend_usd, capped.stop_reason) == (1.5, None)
    assert raised.max_spend_usd == 4.0
    assert removed.max_spend_usd is None
    assert (unpriced.value.code, unpriced.value.field) == ("model_not_priced", "/max_spend_usd")
