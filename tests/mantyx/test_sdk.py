"""The published MANTYX TypeScript SDK, unmodified, against a live Corral server.

`sdk/src` holds the SDK's source files as published (plus an index of ours); `sdk/scenarios.ts`
drives them, one scenario per Node process, and prints what it saw. The first test installs the
pinned packages of `sdk/package-lock.json` when `node_modules` is missing or stale.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, LiveServer
from tests.helpers import events, scoped_key, wait
from tests.npm import installed

SDK_DIR = Path(__file__).parent / "sdk"
INSTALL_TIMEOUT_S = 600

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def sdk() -> Path:
    """The SDK's folder with its packages installed."""
    installed(SDK_DIR, "tsx", why="the MANTYX SDK tests", timeout_s=INSTALL_TIMEOUT_S)
    return SDK_DIR


async def run_scenario(server: LiveServer, name: str, *, key: str = ADMIN_KEY) -> dict[str, Any]:
    """Run one scenario of `scenarios.ts` against `server`; what it observed."""
    env = {
        **os.environ,
        "MANTYX_BASE_URL": server.base_url,
        "MANTYX_API_KEY": key,
        "MANTYX_WORKSPACE": "default",
    }
    process = await asyncio.create_subprocess_exec(
        str(SDK_DIR / "node_modules" / ".bin" / "tsx"),
        "scenarios.ts",
        name,
        cwd=SDK_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    lines = stdout.decode().strip().splitlines()
    assert process.returncode == 0 and lines, (
        f"{name} failed:\n{stdout.decode()}\n{stderr.decode()}"
    )
    return dict(json.loads(lines[-1]))


def test_the_rebuilt_sdk_and_the_scenarios_type_check(sdk):
    result = subprocess.run(
        [str(sdk / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", "."],
        cwd=sdk,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_sdk_lists_the_models(sdk, live_server):
    observed = await run_scenario(live_server, "models")

    assert observed["defaultModelId"] == "test"
    assert {"id": "test", "source": "platform_offering", "provider": "corral"}.items() <= next(
        m for m in observed["models"] if m["id"] == "test"
    ).items()


async def test_a_one_shot_run_returns_the_answer_and_is_a_corral_run(sdk, live_server):
    observed = await run_scenario(live_server, "one_shot")

    assert observed["text"] == "Hello from the SDK"
    assert observed["types"][0] == "started" and observed["types"][-1] == "result"
    async with live_server.client() as client:
        run = await wait(client, observed["runId"])
        listed = (await client.get("/v1/runs", params={"metadata": "via:sdk"})).json()["data"]
    assert (run["status"], run["output"]) == ("completed", "Hello from the SDK")
    assert run["metadata"] == {"customer": "acme", "via": "sdk"}
    assert [r["id"] for r in listed] == [observed["runId"]]


async def test_streaming_yields_every_delta_in_order(sdk, live_server):
    observed = await run_scenario(live_server, "streaming")

    streamed = observed["streamed"]
    deltas = [e["text"] for e in streamed if e["type"] == "assistant_delta"]
    assert len(deltas) > 1, "the answer arrived in pieces, as it was written"
    assert "".join(deltas) == "Streaming, word by word, as it is written."
    assert [e["seq"] for e in streamed] == sorted({e["seq"] for e in streamed})
    assert streamed[-1]["type"] == "result" and streamed[-1]["subtype"] == "success"
    assert "".join(observed["callbackDeltas"]) == observed["callbackText"]
    assert observed["callbackText"] == "Callbacks see every piece"
    assert "thinking_delta" in observed["callbackTypes"]


async def test_local_tools_defined_with_zod_run_in_the_sdks_process(sdk, live_server):
    observed = await run_scenario(live_server, "local_tools")

    assert observed["ok"]["text"] == "get_weather returned: sunny in Oslo, 21 degrees celsius"
    assert observed["ok"]["types"].index("local_tool_call") < observed["ok"]["types"].index(
        "local_tool_result_in"
    )
    assert observed["failed"]["text"] == (
        'read_file failed: Local tool "read_file" failed: ENOENT: no such file'
    )
    assert observed["invalid"]["text"].startswith('get_weather failed: Local tool "get_weather"')
    assert "Expected string, received number" in observed["invalid"]["text"]
    async with live_server.client() as client:
        snapshot = (
            await client.get(f"/api/v1/workspaces/default/agent-runs/{observed['ok']['runId']}")
        ).json()
    [tool] = snapshot["agentSpec"]["tools"]
    assert tool["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    }


async def test_sessions_keep_history_and_metadata_until_they_end(sdk, live_server):
    observed = await run_scenario(live_server, "sessions")

    assert observed["texts"] == ["My name is Ada.", "What is my name?", "Still there?"]
    # `send()` resolves on the `result` event, and the history is already there.
    assert observed["afterFirst"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "My name is Ada."},
    ]
    assert [m["role"] for m in observed["afterSecond"]] == ["user", "assistant"] * 2
    assert observed["streamed"][-1] == "result"
    info = observed["info"]
    assert (info["id"], info["status"], info["metadata"]) == (
        observed["sessionId"],
        "active",
        {"customer": "acme"},
    )
    assert len(info["messages"]) == 6
    assert observed["toolAnswer"] == "get_weather returned: sunny in Lima, 21 degrees celsius"
    assert observed["ended"]["status"] == "ended" and observed["ended"]["endedAt"]
    assert observed["ended"]["messages"] == 8
    assert (observed["late"]["status"], observed["late"]["code"]) == (409, "session_ended")
    assert (observed["gone"]["status"], observed["gone"]["code"]) == (404, "not_found")
    async with live_server.client() as client:
        run = await wait(client, observed["secondRunId"])
    assert run["session"] == observed["sessionId"]
    assert run["metadata"] == {"customer": "acme", "trace_id": "t-2"}


async def test_a_key_that_may_not_read_agents_runs_a_stored_agent_in_runs_and_sessions(
    sdk, live_server, settings
):
    prompt = "[[reply stored agent here]] Keep this prompt to yourself."
    async with live_server.client() as client:
        agent = (
            await client.post(
                "/v1/agents", json={"name": "helper", "model": "test", "instructions": prompt}
            )
        ).json()
    key = await scoped_key(settings, ["runs:write", "sessions:write"])

    observed = await run_scenario(live_server, "stored_agent", key=key)

    assert observed["text"] == "stored agent here"
    assert observed["answers"] == ["stored agent here", "stored agent here"]
    assert [m["role"] for m in observed["history"]] == ["user", "assistant"] * 2
    assert observed["info"]["agentSpec"] == {
        "agentId": agent["id"],
        "modelId": "test",
        "metadata": {},
    }
    assert observed["info"]["name"] == agent["id"]
    assert "Keep this prompt" not in json.dumps(observed)


async def test_a_cancelled_run_rejects_with_a_cancelled_run_error(sdk, live_server):
    observed = await run_scenario(live_server, "cancel")

    for error in (observed["early"], observed["during"]):
        assert error["name"] == "MantyxRunError"
        assert (error["code"], error["subtype"]) == ("cancelled", "cancelled")
    assert observed["seen"][0] == "started" and observed["seen"][-1] == "cancelled"
    async with live_server.client() as client:
        for run_id in observed["runIds"]:
            assert (await wait(client, run_id))["status"] == "cancelled"


async def test_bad_keys_workspaces_models_and_tools_raise_the_sdks_errors(sdk, live_server):
    observed = await run_scenario(live_server, "bad_key")

    for error in (observed["models"], observed["run"]):
        assert error["name"] == "MantyxAuthError"
        assert (error["status"], error["code"]) == (401, "unauthorized")
    assert observed["workspace"]["name"] == "MantyxError"
    assert (observed["workspace"]["status"], observed["workspace"]["code"]) == (404, "not_found")
    assert (observed["model"]["status"], observed["model"]["code"]) == (400, "invalid_model")
    assert (observed["tool"]["status"], observed["tool"]["code"]) == (400, "invalid_request")


async def test_a_dropped_stream_reconnects_and_replays_without_gaps_or_repeats(sdk, live_server):
    observed = await run_scenario(live_server, "reconnect")

    async with live_server.client() as client:
        await wait(client, observed["runId"])
        log = await events(client, observed["runId"])
    assert observed["text"] == "A long answer that arrives slowly."
    # Every event of the run's log, once each, in order, across three connections.
    assert observed["seqs"] == [event["seq"] for event in log]
    assert observed["types"].count("assistant_delta") == len(
        [event for event in log if event["type"] == "message.delta"]
    )
    connections = observed["connections"]
    assert len(connections) >= 3
    assert connections[0]["lastEventId"] is None
    for connection in connections[1:]:
        assert connection["url"].endswith(f"?lastSeq={connection['lastEventId']}")
    assert [int(c["lastEventId"]) for c in connections[1:3]] == [6, 11]
