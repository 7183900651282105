"""Secrets referred to by name, `${secret:NAME}`, where a value would go.

Each is checked at submit, filled in by the worker when the run starts, into the place that named
it only (a command's environment, an MCP server's headers or env, the provider key), and never
stored in clear. A workspace secret named like a provider's variable is the workspace's own key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

import pytest
import sqlalchemy as sa

from corral.sandbox.capabilities import probe
from tests.api.test_provider_runs import RECORDED_TEXT, corral, stored_text
from tests.conftest import REDIS_URL, api_client, running_app
from tests.e2e.helpers import client_tool, wait_for_status
from tests.helpers import assert_error, events, submit, wait
from tests.tools.test_mcp import TOKEN, http_server  # noqa: F401 - the fixture
from tests.tools.test_run_tools import SERVERS, call

VALUE = "sk-workspace-secret-5f1e93c0"


async def add_secret(client: Any, name: str, value: str = VALUE) -> None:
    response = await client.post("/v1/secrets", json={"name": name, "value": value})
    assert response.status_code == 201, response.text


async def test_a_reference_to_a_missing_secret_is_refused_at_submit_naming_its_field(client):
    await add_secret(client, "PRESENT")
    variables = await client.post(
        "/v1/runs",
        json={
            "agent_spec": {"model": "test"},
            "input": "hi",
            "environment": {"variables": {"A": "${secret:PRESENT}", "B": "x ${secret:ABSENT}"}},
        },
    )
    header = await client.post(
        "/v1/sessions",
        json={
            "agent_spec": {
                "model": "test",
                "tools": [
                    {
                        "type": "mcp",
                        "name": "remote",
                        "url": "https://mcp.example.com/mcp",
                        "headers": {"Authorization": "Bearer ${secret:MCP_TOKEN}"},
                    }
                ],
            }
        },
    )
    key = await client.post(
        "/v1/runs",
        json={
            "agent_spec": {"model": "gpt-4o-mini"},
            "input": "hi",
            "api_keys": {"openai": "${secret:OPENAI_KEY}"},
        },
    )

    assert_error(variables, 400, "secret_not_found", field="/environment/variables/B")
    assert "'ABSENT'" in variables.json()["message"]
    assert_error(header, 400, "secret_not_found", field="/tools/0/headers/Authorization")
    assert_error(key, 400, "secret_not_found", field="/api_keys/openai")


async def test_without_any_key_the_error_names_the_workspace_secret_too(client):
    response = await client.post(
        "/v1/runs", json={"agent_spec": {"model": "gpt-4o-mini"}, "input": "hi"}
    )

    assert_error(response, 400, "missing_provider_key", field="/api_keys")
    assert "workspace secret OPENAI_API_KEY" in response.json()["message"]


@pytest.mark.parametrize("how", ["workspace_secret", "reference"])
async def test_the_provider_key_comes_from_the_vault_and_is_stored_nowhere(
    make_settings, monkeypatch, how
):
    async with corral(
        make_settings,
        monkeypatch,
        "openai/chat-stream-text-usage",
        {"OPENAI_BASE_URL": "{url}/v1"},
    ) as (cassette, app, client):
        name = "OPENAI_API_KEY" if how == "workspace_secret" else "team-openai"
        await add_secret(client, name)
        body: dict[str, Any] = {"agent_spec": {"model": "gpt-4o-mini"}, "input": "hi"}
        if how == "reference":
            body["api_keys"] = {"openai": "${secret:team-openai}"}
        submitted = await client.post("/v1/runs", json=body)
        assert submitted.status_code == 202, submitted.text
        run = await wait(client, submitted.json()["id"])
        stored = await stored_text(app, run["id"])

    assert run["status"] == "completed", run
    assert run["output"] == RECORDED_TEXT
    assert cassette.sent[0].headers["Authorization"] == f"Bearer {VALUE}"
    assert VALUE not in stored


async def test_a_secret_deleted_before_its_run_starts_fails_the_run_with_its_name(client):
    await add_secret(client, "SHORT_LIVED")
    spec = {"model": "test", "environment": {"variables": {"T": "${secret:SHORT_LIVED}"}}}
    session = (await client.post("/v1/sessions", json={"agent_spec": spec})).json()
    first = await client.post(
        f"/v1/sessions/{session['id']}/messages", json={"input": "[[delay 1s]] one"}
    )
    second = await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "two"})
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert (await client.delete("/v1/secrets/SHORT_LIVED")).status_code == 204

    ended = await wait(client, second.json()["id"])

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "secret_not_found"
    assert "'SHORT_LIVED'" in ended["error"]["message"]


async def test_a_remote_mcp_server_gets_the_header_that_names_the_secret(
    make_settings,
    http_server,  # noqa: F811 - the fixture
):
    settings = make_settings(network_private_hosts=["127.0.0.1"])
    async with running_app(settings) as app, api_client(app) as client:
        await add_secret(client, "MCP_TOKEN", TOKEN)
        remote = {
            "type": "mcp",
            "name": "remote",
            "url": http_server.url,
            "headers": {"Authorization": "Bearer ${secret:MCP_TOKEN}"},
        }
        run = await submit(
            client,
            call("remote__add", a=2, b=3),
            agent_spec={"model": "test", "tools": [remote], "include_builtin_tools": False},
        )
        ended = await wait(client, run["id"], timeout_s=30)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert [e["output"] for e in log if e["type"] == "tool.completed"] == ["5"]


@pytest.mark.skipif(not probe().enforced, reason=f"no sandbox here: {probe().detail}")
async def test_a_local_mcp_server_and_a_command_get_the_variables_that_name_secrets(client):
    await add_secret(client, "GREETING", "hello-from-the-vault")
    local = {
        "type": "mcp",
        "name": "local",
        "command": sys.executable,
        "args": [str(SERVERS / "stdio_server.py")],
        "env": {"CORRAL_TEST_GREETING": "${secret:GREETING}"},
    }
    run = await submit(
        client,
        call("local__getenv", name="CORRAL_TEST_GREETING")
        + call("bash", command='echo "$FROM_VAULT" | rev; echo "${#FROM_VAULT}"'),
        agent_spec={
            "model": "test",
            "tools": [local],
            "environment": {"variables": {"FROM_VAULT": "${secret:GREETING}"}},
        },
    )
    ended = await wait(client, run["id"], timeout_s=60)
    outputs = [
        e["output"] for e in await events(client, run["id"]) if e["type"] == "tool.completed"
    ]

    assert ended["status"] == "completed", ended
    # Echoed as is, the value comes back redacted; reversed, it shows it was the secret's.
    assert outputs[0] == "[secret:GREETING]"
    assert outputs[1].split()[:2] == ["tluav-eht-morf-olleh", str(len("hello-from-the-vault"))]


async def test_every_node_sees_a_change_of_the_vault_at_once_despite_its_cache(
    make_settings, backend
):
    # A long cache: only the change notice can make the nodes read the secrets again.
    options: dict[str, Any] = {"key_cache_s": 300.0}
    if backend == "postgres":
        options["redis_url"] = REDIS_URL  # nodes in different processes talk through Redis
    settings = make_settings(**options)
    body = {
        "agent_spec": {"model": "test"},
        "input": "hi",
        "environment": {"variables": {"T": "${secret:ROTATING}"}},
    }
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(running_app(settings))
        nodes = [first]
        if backend == "postgres":  # SQLite serves from one process only
            nodes.append(await stack.enter_async_context(running_app(settings)))
        clients = [await stack.enter_async_context(api_client(node)) for node in nodes]
        for client in clients:  # each node caches the workspace's (empty) vault
            assert_error(await client.post("/v1/runs", json=body), 400, "secret_not_found")
        await add_secret(clients[-1], "ROTATING")
        await asyncio.sleep(0.5)
        accepted = [await client.post("/v1/runs", json=body) for client in clients]
        assert (await clients[0].delete("/v1/secrets/ROTATING")).status_code == 204
        await asyncio.sleep(0.5)
        refused = [await client.post("/v1/runs", json=body) for client in clients]

    assert [response.status_code for response in accepted] == [202] * len(nodes)
    for response in refused:
        assert_error(response, 400, "secret_not_found", field="/environment/variables/T")


async def test_a_client_tools_result_that_echoes_a_secret_is_stored_redacted(app, client):
    await add_secret(client, "CALLER_SEEN")
    run = await submit(
        client,
        "look it up",
        agent_spec={
            "model": "test",
            "tools": [client_tool("lookup")],
            "environment": {"variables": {"T": "${secret:CALLER_SEEN}"}},
        },
    )
    waiting = await wait_for_status(client, run["id"], "waiting")
    [call] = waiting["pending_tool_calls"]
    answered = await client.post(
        f"/v1/runs/{run['id']}/tool-results",
        json={"call_id": call["call_id"], "output": f"found {VALUE}"},
    )
    ended = await wait(client, run["id"])
    log = await events(client, run["id"])
    stored = await app.state.ctx.database.read(
        lambda conn: conn.execute(
            sa.text("SELECT output FROM tool_calls WHERE run_id = :id"), {"id": run["id"]}
        ).scalar_one()
    )

    assert answered.status_code == 200, answered.text
    assert ended["output"] == "lookup returned: found [secret:CALLER_SEEN]"
    assert stored == "found [secret:CALLER_SEEN]"
    assert VALUE not in json.dumps(log)
