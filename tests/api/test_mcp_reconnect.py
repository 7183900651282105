"""A run whose remote MCP server dies and comes back mid-run: reconnected, as its log shows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import api_client, running_app
from tests.helpers import events, submit, wait
from tests.tools.test_mcp import TOKEN
from tests.tools.test_mcp_reconnect import server  # noqa: F401 - the fixture
from tests.tools.test_run_tools import call


async def until_started(client: Any, run_id: str, name: str) -> None:
    """Return once the run's log shows that a call of the tool `name` began."""
    deadline = time.monotonic() + 30
    while not any(
        e["type"] == "tool.started" and e["name"] == name for e in await events(client, run_id)
    ):
        assert time.monotonic() < deadline, f"{name} never started"
        await asyncio.sleep(0.1)


async def test_a_server_killed_and_restarted_mid_run_is_reconnected_and_serves_the_next_call(
    make_settings,
    server,  # noqa: F811 - the fixture
):
    settings = make_settings(network_private_hosts=["127.0.0.1"])
    remote = {
        "type": "mcp",
        "name": "remote",
        "url": server.url,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
    }
    prompt = (
        call("remote__add", a=1, b=2)
        + call("remote__slow", seconds=60)
        + call("remote__add", a=2, b=3)
    )
    async with running_app(settings) as app, api_client(app) as client:
        run = await submit(
            client,
            prompt,
            agent_spec={"model": "test", "tools": [remote], "include_builtin_tools": False},
        )
        await until_started(client, run["id"], "remote__slow")
        await asyncio.sleep(1.5)  # the call has reached the server
        await server.restart()
        ended = await wait(client, run["id"], timeout_s=60)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    completed = [e for e in log if e["type"] == "tool.completed"]
    assert [(e["name"], e["ok"], e["output"]) for e in completed] == [
        ("remote__add", True, "3"),
        ("remote__slow", False, None),
        ("remote__add", True, "5"),
    ]
    assert completed[1]["error"].startswith(
        "the MCP server 'remote' disconnected during the call ("
    )
    assert "it was not retried because its effects are unknown" in completed[1]["error"]
    reconnected = [e for e in log if e["type"] == "mcp.reconnected"]
    assert len(reconnected) == 1
    assert reconnected[0]["server"] == "remote"
    assert reconnected[0]["attempts"] >= 1
    assert reconnected[0]["downtime_s"] >= 0
    assert completed[1]["seq"] < reconnected[0]["seq"] < completed[2]["seq"]
    assert not [e for e in log if e["type"] == "mcp.unavailable"]
