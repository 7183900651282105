"""MCP servers whose connection is lost mid-run: reconnected, never silently lost.

The servers are the real test servers (`tests/tools/mcp_servers`), killed and started again on
the same port: on the same listening socket (connections wait in its backlog meanwhile, as behind
a load balancer), or after the port was closed (connections are refused, as when a host is down).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from corral.domain.events import EventPayload, McpReconnected, McpUnavailable
from corral.tools.mcp_reconnect import Backoff
from corral.tools.mcp_toolbox import McpToolbox
from tests.tools.test_mcp import (  # noqa: F401 - fixtures
    SERVERS,
    TOKEN,
    TRUSTING,
    gone,
    http_spec,
    launcher,
    marker,
    running,
    stdio_spec,
)

QUICK = Backoff(first_delay_s=0.05, max_delay_s=0.2, budget_s=1.5)
"""Gives up within seconds, so a server that never comes back does not slow the tests."""
WITHOUT_ECHO = (
    "import sys; sys.path.insert(0, sys.argv[3]); import http_server as s, uvicorn; "
    "s.server.remove_tool('echo'); "
    "uvicorn.run(s.require_token(s.server.streamable_http_app(), sys.argv[2]), "
    "fd=int(sys.argv[1]), log_level='warning')"
)
"""The HTTP test server without its `echo` tool, as a new version of a server might be."""


class RestartableServer:
    """The streamable-HTTP test server, which a test stops and starts again on the same port."""

    def __init__(self) -> None:
        self.listener: socket.socket | None = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, *, without_echo: bool = False) -> None:
        """Serve on the port (listening again if it was closed), once ready to answer."""
        if self.listener is None:
            self.listener = socket.create_server(("127.0.0.1", self.port))
        fd = str(self.listener.fileno())
        script = ["-c", WITHOUT_ECHO] if without_echo else [str(SERVERS / "http_server.py")]
        command = [sys.executable, *script, fd, TOKEN, str(SERVERS)]
        self.process = subprocess.Popen(command, pass_fds=[self.listener.fileno()])
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                try:
                    if (await client.get(self.url)).status_code == 401:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the HTTP test server did not start"
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """The server dies; its port still accepts connections, which wait for the next one."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def vanish(self) -> None:
        """The server dies and its port is closed: connecting is refused."""
        self.kill()
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    async def restart(self, **options: Any) -> None:
        self.kill()
        await self.start(**options)


@pytest.fixture
async def server() -> AsyncIterator[RestartableServer]:
    started = RestartableServer()
    await started.start()
    try:
        yield started
    finally:
        started.vanish()


async def toolbox_for(
    *specs: Any, emitted: list[EventPayload], backoff: Backoff | None = None, **options: Any
) -> McpToolbox:
    return await McpToolbox.connect(
        specs, emit=emitted.append, backoff=backoff, egress=TRUSTING, **options
    )


async def test_a_server_restarted_between_two_calls_is_reconnected_and_the_call_works(server):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url), emitted=emitted)
    try:
        assert (await toolbox.call("remote__add", {"a": 1, "b": 2})).output == "3"
        await server.restart()
        after = await toolbox.call("remote__add", {"a": 2, "b": 3})
    finally:
        await toolbox.close()

    assert (after.output, after.error) == ("5", None)
    assert [type(event) for event in emitted] == [McpReconnected]
    reconnected = emitted[0]
    assert isinstance(reconnected, McpReconnected)
    assert (reconnected.server, reconnected.attempts) == ("remote", 1)
    assert 0 <= reconnected.downtime_s < 5


async def test_a_call_made_while_the_server_is_down_waits_for_it_to_come_back(server):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url), emitted=emitted)
    try:
        server.vanish()
        calling = asyncio.create_task(toolbox.call("remote__add", {"a": 20, "b": 22}))
        await asyncio.sleep(2)  # refused, then tried again and again with backoff
        assert not calling.done()
        await server.start()
        outcome = await asyncio.wait_for(calling, 30)
    finally:
        await toolbox.close()

    assert (outcome.output, outcome.error) == ("42", None)
    assert len(emitted) == 1 and isinstance(emitted[0], McpReconnected)
    assert emitted[0].attempts > 2
    assert emitted[0].downtime_s >= 1


async def test_a_call_in_flight_when_the_server_dies_gets_a_clear_error_and_is_not_retried(
    server,
):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url), emitted=emitted)
    try:
        calling = asyncio.create_task(toolbox.call("remote__slow", {"seconds": 30}))
        await asyncio.sleep(1)
        server.kill()
        started = time.monotonic()
        cut = await asyncio.wait_for(calling, 10)
        answered_s = time.monotonic() - started
        await server.start()
        later = await toolbox.call("remote__echo", {"text": "back"})
    finally:
        await toolbox.close()

    assert cut.output is None
    assert cut.error is not None
    assert cut.error.startswith("the MCP server 'remote' disconnected during the call (")
    assert "it was not retried because its effects are unknown" in cut.error
    assert answered_s < 5
    assert later.output == "back"
    assert len(emitted) == 1 and isinstance(emitted[0], McpReconnected)


async def test_a_rerun_safe_call_cut_off_by_a_restart_runs_once_more_on_the_new_connection(
    server,
):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url, idempotent=True), emitted=emitted)
    try:
        calling = asyncio.create_task(toolbox.call("remote__slow", {"seconds": 1.5}))
        await asyncio.sleep(0.5)
        await server.restart()
        outcome = await asyncio.wait_for(calling, 30)
    finally:
        await toolbox.close()

    assert (outcome.output, outcome.error) == ("slept 1.5 s", None)
    assert len(emitted) == 1 and isinstance(emitted[0], McpReconnected)


async def test_a_server_that_never_comes_back_is_given_up_and_later_calls_fail_at_once(server):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url), emitted=emitted, backoff=QUICK)
    try:
        server.vanish()
        started = time.monotonic()
        first = await toolbox.call("remote__add", {"a": 1, "b": 2})
        gave_up_s = time.monotonic() - started
        started = time.monotonic()
        later = await toolbox.call("remote__echo", {"text": "anyone?"})
        later_s = time.monotonic() - started
    finally:
        await toolbox.close()

    assert 1 <= gave_up_s < 10
    assert first.error is not None
    assert first.error.startswith("the MCP server 'remote' is unavailable for the rest of this run")
    assert "ConnectError" in first.error
    assert later.error == first.error
    assert later_s < 0.5
    assert len(emitted) == 1
    unavailable = emitted[0]
    assert isinstance(unavailable, McpUnavailable)
    assert unavailable.server == "remote"
    assert unavailable.reason.startswith("its connection was lost (")
    assert "attempts to reconnect over" in unavailable.reason
    assert first.error.endswith(unavailable.reason)


async def test_a_tool_the_reconnected_server_no_longer_has_gives_a_clear_error(server):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url), emitted=emitted)
    try:
        await server.restart(without_echo=True)
        missing = await toolbox.call("remote__echo", {"text": "hi"})
        still = await toolbox.call("remote__add", {"a": 1, "b": 1})
    finally:
        await toolbox.close()

    assert missing.error == (
        "the MCP server 'remote' no longer offers the tool 'echo': it was reconnected and now "
        "lists add, slow"
    )
    assert still.output == "2"
    assert [tool.name for tool in toolbox.tools] == ["remote__add", "remote__echo", "remote__slow"]


async def test_events_are_written_only_when_a_tool_is_called(server):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(http_spec(server.url), emitted=emitted)
    try:
        calling = asyncio.create_task(toolbox.call("remote__slow", {"seconds": 30}))
        await asyncio.sleep(1)
        await server.restart()
        await calling  # the loss starts the reconnection in the background
        await asyncio.sleep(1)
        assert emitted == []  # back by now, but nothing is written outside a call
        toolbox.flush()
    finally:
        await toolbox.close()

    assert len(emitted) == 1 and isinstance(emitted[0], McpReconnected)


async def test_a_local_server_that_crashed_is_started_again_when_its_tools_are_called(
    stdio_spec,  # noqa: F811 - the fixture
    marker,  # noqa: F811 - the fixture
    launcher,  # noqa: F811 - the fixture
):
    emitted: list[EventPayload] = []
    toolbox = await toolbox_for(stdio_spec(), emitted=emitted, launcher=launcher)
    try:
        crashed = await toolbox.call("local__crash", {})
        assert not running(marker)  # restarted only once a call needs it
        echoed = await toolbox.call("local__echo", {"text": "back again"})
        assert len(running(marker)) == 1
    finally:
        await toolbox.close()

    assert crashed.error is not None
    assert crashed.error.startswith("the MCP server 'local' disconnected during the call (")
    assert "about to crash on purpose" in crashed.error
    assert echoed.output == "back again"
    assert len(emitted) == 1 and isinstance(emitted[0], McpReconnected)
    assert await gone(marker)


def test_the_backoff_doubles_from_half_a_second_to_ten_within_a_minute():
    backoff = Backoff()

    assert [backoff.delay_s(failed) for failed in range(1, 9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
        10.0,
        10.0,
    ]
    assert backoff.delay_s(10_000) == 10.0
    assert not backoff.gives_up(elapsed_s=49.0, failed=7)
    assert backoff.gives_up(elapsed_s=50.0, failed=7)
