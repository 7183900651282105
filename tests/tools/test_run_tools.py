"""MCP servers and networking in real runs: the test model calls the tools by directive.

The MCP test servers are real (`tests/tools/mcp_servers`, built with the official SDK); a local one
runs inside the run's sandbox.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from corral.sandbox.capabilities import probe
from tests.helpers import events, submit, wait

SERVERS = Path(__file__).parent / "mcp_servers"
LOCAL_MCP = {
    "type": "mcp",
    "name": "local",
    "command": sys.executable,
    "args": [str(SERVERS / "stdio_server.py")],
    "env": {"CORRAL_TEST_GREETING": "hello from the run"},
}


def call(tool: str, /, **arguments: Any) -> str:
    return f"[[call {tool} {json.dumps(arguments)}]]"


async def until_waiting(client: Any, run_id: str) -> dict[str, Any]:
    """The run once it waits for a client tool result."""
    for _ in range(600):
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        if run["status"] != "queued" and run["status"] != "running":
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never waited")


@pytest.fixture
def backend() -> str:
    """MCP and networking do not depend on the storage backend."""
    return "sqlite"


async def test_a_local_mcp_servers_tools_are_offered_and_called_in_the_sandbox(client):
    run = await submit(
        client,
        call("local__add", a=2, b=3) + " " + call("local__getenv", name="CORRAL_TEST_GREETING"),
        agent_spec={"model": "test", "tools": [LOCAL_MCP]},
    )
    ended = await wait(client, run["id"], timeout_s=60)
    completed = [e for e in await events(client, run["id"]) if e["type"] == "tool.completed"]

    assert ended["status"] == "completed", ended
    assert [(e["name"], e["ok"], e["output"]) for e in completed] == [
        ("local__add", True, "5"),
        ("local__getenv", True, "hello from the run"),
    ]


async def test_mcp_tools_come_after_builtin_and_client_tools(client):
    client_tool = {"type": "client", "name": "ask_user", "description": "Ask the user"}
    # Unless told otherwise the test model calls the first tool that is not builtin: here the
    # client tool, although the MCP server is listed first, since MCP tools come last.
    run = await submit(
        client, "go", agent_spec={"model": "test", "tools": [LOCAL_MCP, client_tool]}
    )
    waiting = await until_waiting(client, run["id"])
    await client.post(f"/v1/runs/{run['id']}/cancel")

    assert waiting["status"] == "waiting"
    assert [c["name"] for c in waiting["pending_tool_calls"]] == ["ask_user"]


async def test_an_unreachable_mcp_server_is_an_event_and_the_model_is_told(client):
    dead = {
        "type": "mcp",
        "name": "remote",
        "url": "http://127.0.0.1:9/mcp",
        "connect_timeout_s": 2,
    }
    run = await submit(
        client,
        call("remote__add", a=1, b=1),
        agent_spec={"model": "test", "tools": [dead, LOCAL_MCP]},
    )
    ended = await wait(client, run["id"], timeout_s=60)
    logged = await events(client, run["id"])

    unavailable = [e for e in logged if e["type"] == "mcp.unavailable"]
    assert [e["server"] for e in unavailable] == ["remote"]
    assert unavailable[0]["reason"]
    assert ended["status"] == "completed"
    assert ended["output"] == "remote__add failed: unknown tool 'remote__add'"


@pytest.mark.skipif(
    "limited" not in probe().networks, reason=f"limited networking: {probe().detail}"
)
async def test_no_networking_mode_reaches_the_server_and_limited_refuses_unlisted_hosts(
    live_server,
):
    probe_server = (
        f"curl -s -o /dev/null -w '%{{http_code}}' -m 3 {live_server.base_url}/healthz"
        " || echo unreachable"
    )
    proxied = (
        'python3 -c "import urllib.request as u\n'
        "try: u.urlopen('http://not-listed.example/', timeout=5)\n"
        "except Exception as e: print('refused', e)\""
    )
    limited = {"networking": {"mode": "limited", "allowed_hosts": ["api.example.com"]}}
    async with live_server.client() as client:
        open_run = await submit(client, call("bash", command=probe_server))
        limited_run = await submit(
            client,
            call("bash", command=probe_server) + " " + call("bash", command=proxied),
            agent_spec={"model": "test", "environment": limited},
        )
        opened = [
            e
            for e in await events(client, (await wait(client, open_run["id"], 60))["id"])
            if e["type"] == "tool.completed"
        ]
        cut = [
            e
            for e in await events(client, (await wait(client, limited_run["id"], 60))["id"])
            if e["type"] == "tool.completed"
        ]

    assert opened[0]["output"].startswith(("unreachable", "000")), opened[0]["output"]
    assert cut[0]["output"].startswith(("unreachable", "000")), cut[0]["output"]
    assert "refused" in cut[1]["output"] and "403" in cut[1]["output"]
