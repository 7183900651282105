"""Streams that lose their connection mid-way resume, and the caller sees each event once, in order.

The SDK talks to the server through `FaultyProxy`, which cuts the connections under it. The first
test runs on its own server on each backend: resuming reads the log, then waits for wake-ups.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from corral.settings import Settings
from corral.types.events import RunCompleted
from tests.client.conftest import Awaited, OpenClient, awaited_client
from tests.client.proxy import FaultyProxy
from tests.conftest import ADMIN_KEY, BACKENDS, LiveServer

LONG_RUN = "[[stream_delay 10ms]] [[deltas 60]]"


async def read_all(
    stream: Any, *, is_async: bool, on_each: Callable[[list[Any]], bool]
) -> list[Any]:
    """The stream's events, read until it ends or `on_each(events so far)` says stop."""
    events: list[Any] = []
    if is_async:
        async with stream:
            async for event in stream:
                events.append(event)
                if on_each(events):
                    break
        return events

    def read() -> list[Any]:
        with stream:
            for event in stream:
                events.append(event)
                if on_each(events):
                    break
        return events

    return await asyncio.to_thread(read)


@pytest_asyncio.fixture(loop_scope="package")
async def flaky(open_client: OpenClient, proxy: FaultyProxy) -> AsyncIterator[Awaited]:
    """The client of the current flavour, talking to the server through the proxy."""
    async with open_client(proxy.base_url) as client:
        yield client


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_run_stream_cut_on_demand_resumes_without_gaps_or_repeats(
    flavour: str, settings: Settings
) -> None:
    async with (
        LiveServer(settings) as server,
        FaultyProxy(server.port) as proxy,
        awaited_client(flavour, proxy.base_url, api_key=ADMIN_KEY) as flaky,
    ):
        run = await flaky.runs.create(model="test", input=LONG_RUN)

        def cut_once(events: list[Any]) -> bool:
            if len(events) == 10:
                proxy.cut()
            return False

        stream = await flaky.runs.stream(run.id)
        streamed = await read_all(stream, is_async=flaky.is_async, on_each=cut_once)
        log = await flaky.runs.events(run.id)

    assert proxy.count("GET", f"/v1/runs/{run.id}/stream") >= 2
    assert [e.seq for e in streamed] == list(range(1, len(log) + 1))
    assert streamed == log
    assert isinstance(streamed[-1], RunCompleted)


async def test_a_run_stream_cut_in_the_middle_of_frames_resumes_without_gaps_or_repeats(
    flaky: Awaited, proxy: FaultyProxy
) -> None:
    proxy.cut_streams_after(2500, times=3)
    run = await flaky.runs.create(model="test", input=LONG_RUN)

    stream = await flaky.runs.stream(run.id)
    streamed = await read_all(stream, is_async=flaky.is_async, on_each=lambda _: False)

    assert proxy.count("GET", f"/v1/runs/{run.id}/stream") == 4
    assert streamed == await flaky.runs.events(run.id)


async def test_a_session_stream_cut_mid_way_resumes_without_gaps_or_repeats(
    flaky: Awaited, proxy: FaultyProxy
) -> None:
    session = await flaky.sessions.create(model="test")
    first = await flaky.sessions.messages.create(session.id, input=LONG_RUN)
    second = await flaky.sessions.messages.create(session.id, input=LONG_RUN)
    proxy.cut_streams_after(3000, times=2)

    def cut_once_more(events: list[Any]) -> bool:
        if len(events) == 90:
            proxy.cut()
        return sum(isinstance(e, RunCompleted) for e in events) == 2

    stream = await flaky.sessions.stream(session.id)
    streamed = await read_all(stream, is_async=flaky.is_async, on_each=cut_once_more)

    assert proxy.count("GET", f"/v1/sessions/{session.id}/stream") >= 4
    assert streamed == await flaky.runs.events(first.id) + await flaky.runs.events(second.id)


async def test_run_follows_through_dropped_streams_and_executes_each_tool_call_once(
    flaky: Awaited, proxy: FaultyProxy
) -> None:
    calls: list[str] = []

    def remember(note: str) -> str:
        """Remember a note."""
        calls.append(note)
        return "noted"

    proxy.cut_streams_after(700, times=3)
    seen: list[Any] = []
    run = await flaky.run(
        model="test",
        input="[[stream_delay 10ms]] [[deltas 20]] [[call remember]]",
        tools=[remember],
        on_event=seen.append,
    )

    assert calls == ["example"]
    assert run.output == "remember returned: noted"
    assert seen == await flaky.runs.events(run.id)


async def test_a_stream_refused_with_429_waits_retry_after_and_resumes(
    flaky: Awaited, proxy: FaultyProxy
) -> None:
    run = await flaky.runs.create(model="test", input="[[deltas 5]] a b c d e")
    path = f"/v1/runs/{run.id}/stream"
    proxy.respond(
        "GET",
        path,
        status=429,
        body=b'{"error": "rate_limited", "message": "wait"}',
        headers={"Retry-After": "1"},
    )

    started = time.monotonic()
    streamed = await read_all(
        await flaky.runs.stream(run.id), is_async=flaky.is_async, on_each=lambda _: False
    )

    assert time.monotonic() - started >= 0.9
    assert proxy.count("GET", path) == 2
    assert streamed == await flaky.runs.events(run.id)
