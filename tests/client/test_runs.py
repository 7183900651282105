from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest

from corral.client import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RunCancelledError,
    RunFailedError,
    RunTimedOutError,
    UnknownEvent,
)
from corral.types.events import (
    ClientToolCall,
    MessageCompleted,
    MessageDelta,
    RunCompleted,
    RunStarted,
    UsageEvent,
)
from corral.types.runs import Run, RunStatus
from corral.types.tools import ToolResultAccepted
from tests.client.conftest import drain, first

WEATHER = {
    "type": "client",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_a_created_run_is_queued_and_wait_returns_it_ended(sdk):
    run = await sdk.runs.create(model="test", input="hello there", metadata={"job": "1"})
    ended = await sdk.runs.wait(run.id)

    assert isinstance(run, Run)
    assert run.id.startswith("run_")
    assert run.status == RunStatus.QUEUED
    assert run.metadata == {"job": "1"}
    assert isinstance(ended, Run)
    assert (ended.status, ended.output) == (RunStatus.COMPLETED, "hello there")
    assert ended.usage.output_tokens > 0
    assert ended.ended_at is not None
    assert await sdk.runs.retrieve(run.id) == ended


async def test_wait_with_a_timeout_returns_the_run_as_it_stands(sdk):
    run = await sdk.runs.create(model="test", input="[[delay 2s]] slow")

    current = await sdk.runs.wait(run.id, timeout_s=0.2)
    await sdk.runs.cancel(run.id)

    assert current.status in (RunStatus.QUEUED, RunStatus.RUNNING)


async def test_a_run_can_use_a_stored_agent_and_an_agent_spec_with_instructions(sdk):
    agent = await sdk.agents.create(name="echo", model="test", instructions="[[reply stored]]")

    stored = await sdk.runs.wait((await sdk.runs.create(agent="echo", input="x")).id)
    pinned = await sdk.runs.wait(
        (await sdk.runs.create(agent=agent.id, agent_version=1, input="x")).id
    )
    inline = await sdk.runs.wait(
        (await sdk.runs.create(model="test", instructions="[[reply inline]]", input="x")).id
    )

    assert (stored.agent, stored.agent_version, stored.output) == (agent.id, 1, "stored")
    assert pinned.output == "stored"
    assert (inline.agent, inline.output) == (None, "inline")


async def test_events_are_typed_and_numbered_without_gaps(sdk):
    run = await sdk.run(model="test", input="[[deltas 3]] one two three")

    events = await sdk.runs.events(run.id)
    later = await sdk.runs.events(run.id, after=2)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0], RunStarted)
    deltas = [e for e in events if isinstance(e, MessageDelta)]
    assert events[1 : 1 + len(deltas)] == deltas
    assert "".join(delta.text for delta in deltas) == run.output
    assert isinstance(events[1 + len(deltas)], MessageCompleted)
    assert any(isinstance(e, UsageEvent) for e in events)
    assert isinstance(events[-1], RunCompleted) and events[-1].output == run.output
    assert not any(isinstance(e, UnknownEvent) for e in events)
    assert later == events[2:]


async def test_a_stream_yields_typed_events_live_until_the_terminal_one(sdk):
    run = await sdk.runs.create(model="test", input="[[stream_delay 5ms]] [[deltas 10]]")

    stream = await sdk.runs.stream(run.id)
    streamed = await drain(stream)
    log = await sdk.runs.events(run.id)

    assert streamed == log
    deltas = [e.text for e in streamed if isinstance(e, MessageDelta)]
    assert len(deltas) > 1, "the answer arrived in pieces, as it was written"
    assert isinstance(streamed[-1], RunCompleted)
    assert "".join(deltas) == streamed[-1].output
    assert stream.last_event_id == str(log[-1].seq)


async def test_a_stream_can_start_after_a_known_event(sdk):
    run = await sdk.run(model="test", input="[[deltas 5]] a b c d e")

    rest = await drain(await sdk.runs.stream(run.id, after=3))

    assert rest == (await sdk.runs.events(run.id))[3:]
    assert rest[0].seq == 4


async def test_cancel_ends_a_run_and_delete_removes_an_ended_one(sdk):
    run = await sdk.runs.create(model="test", input="[[delay 5s]] never")

    with pytest.raises(ConflictError) as active:
        await sdk.runs.delete(run.id)
    cancelled = await sdk.runs.cancel(run.id)
    again = await sdk.runs.cancel(run.id)
    await sdk.runs.delete(run.id)

    assert active.value.code == "run_active"
    assert cancelled.status == again.status == RunStatus.CANCELLED
    with pytest.raises(NotFoundError):
        await sdk.runs.retrieve(run.id)


async def test_listing_runs_walks_every_page_and_filters(sdk):
    ids = []
    for i in range(5):
        run = await sdk.runs.create(model="test", input=f"run {i}", metadata={"batch": str(i % 2)})
        ids.append(run.id)
    for run_id in ids:
        await sdk.runs.wait(run_id)
    failed = await sdk.runs.wait((await sdk.runs.create(model="test", input="[[fail x y]]")).id)

    first = await sdk.runs.list(limit=2, status="completed")
    every = await drain(first)
    odd = await drain(await sdk.runs.list(metadata={"batch": "1"}, limit=2))
    failures = await drain(await sdk.runs.list(status=RunStatus.FAILED))

    assert [len(p.data) for p in await drain(first.iter_pages())] == [2, 2, 1]
    assert [r.id for r in every] == ids[::-1]
    assert all(isinstance(r, Run) for r in every)
    assert [r.id for r in odd] == [ids[3], ids[1]]
    assert [r.id for r in failures] == [failed.id]


async def test_runs_are_listed_by_creation_time_whatever_zone_the_bounds_are_in(sdk):
    runs = [await sdk.runs.create(model="test", input=f"run {i}") for i in range(3)]
    for run in runs:
        await sdk.runs.wait(run.id)
    first, second, third = runs
    india = timezone(timedelta(hours=5, minutes=30))

    between = await drain(
        await sdk.runs.list(created_after=second.created_at, created_before=third.created_at)
    )
    zoned = await drain(await sdk.runs.list(created_after=second.created_at.astimezone(india)))
    naive = await drain(await sdk.runs.list(created_before=second.created_at.replace(tzinfo=None)))
    with pytest.raises(InvalidRequestError) as inverted:
        await sdk.runs.list(created_after=third.created_at, created_before=first.created_at)

    assert [r.id for r in between] == [second.id]
    assert [r.id for r in zoned] == [third.id, second.id]
    assert [r.id for r in naive] == [first.id]
    assert inverted.value.field == "created_before"


async def test_a_client_tool_call_is_answered_with_submit_tool_result(sdk):
    run = await sdk.runs.create(model="test", input="weather?", tools=[WEATHER])

    call = await first(await sdk.runs.stream(run.id), lambda e: isinstance(e, ClientToolCall))
    waiting = await sdk.runs.retrieve(run.id)
    accepted = await sdk.runs.submit_tool_result(run.id, call_id=call.call_id, output="sunny")
    ended = await sdk.runs.wait(run.id)

    assert (call.name, call.input) == ("get_weather", {"city": "example"})
    assert waiting.status == RunStatus.WAITING
    assert [c.call_id for c in waiting.pending_tool_calls] == [call.call_id]
    assert isinstance(accepted, ToolResultAccepted)
    assert (accepted.run_id, accepted.call_id) == (run.id, call.call_id)
    assert ended.output == "get_weather returned: sunny"


async def test_follow_executes_the_tools_of_a_run_created_earlier(sdk):
    run = await sdk.runs.create(model="test", input="weather?", tools=[WEATHER])

    def get_weather(city: str) -> str:
        return f"rain in {city}"

    ended = await sdk.runs.follow(run.id, tools=[get_weather])

    assert ended.output == "get_weather returned: rain in example"


async def test_run_raises_run_failed_error_with_the_ended_run(sdk):
    with pytest.raises(RunFailedError) as failed:
        await sdk.run(model="test", input="[[fail provider_error boom]]")

    assert type(failed.value) is RunFailedError
    assert failed.value.code == "provider_error"
    assert failed.value.run.status == RunStatus.FAILED
    assert failed.value.run.error is not None
    assert failed.value.run.error.message == "boom"


async def test_run_raises_run_timed_out_error_when_the_agent_timeout_passes(sdk):
    spec = {"model": "test", "limits": {"timeout_s": 0.3}}

    with pytest.raises(RunTimedOutError) as timed_out:
        await sdk.run(agent_spec=spec, input="[[delay 5s]] too slow")

    assert isinstance(timed_out.value, RunFailedError)
    assert timed_out.value.run.status == RunStatus.TIMED_OUT
    assert timed_out.value.code == "run_timeout"


async def test_run_raises_run_cancelled_error_when_someone_else_cancels_it(sdk, acorral):
    following = asyncio.create_task(sdk.run(model="test", input="[[delay 10s]] wait for it"))
    for _ in range(500):
        active = (await acorral.runs.list(status="running")).data
        if active:
            break
        await asyncio.sleep(0.01)
    await acorral.runs.cancel(active[0].id)

    with pytest.raises(RunCancelledError) as cancelled:
        await asyncio.wait_for(following, 10)

    assert cancelled.value.run.id == active[0].id
    assert cancelled.value.run.status == RunStatus.CANCELLED
