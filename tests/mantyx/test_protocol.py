"""The MANTYX agent-runs protocol over HTTP: every route, status code and error of the document.

What the SDK itself exercises is tested again in `test_sdk.py`; here each rule is pinned by a
request of its own, on both databases.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from corral.process import build_context
from corral.services import auth
from tests.conftest import ADMIN_KEY, LiveServer, api_client
from tests.helpers import parse_sse, scoped_key, wait

BASE = "/api/v1/workspaces/default"
AGENT: dict[str, Any] = {"systemPrompt": "You are terse.", "modelId": "test"}
WEATHER: dict[str, Any] = {
    "kind": "local",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def assert_protocol_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """The protocol's error body: the code in `error` and in `code`, and a message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        assert body.get("field") == field, body
    return dict(body)


async def start(client: httpx.AsyncClient, prompt: str | None = "hello", **spec: Any) -> str:
    """Submit a one-shot run of the inline test agent (or of `spec`); its id."""
    response = await client.post(f"{BASE}/agent-runs", json={**AGENT, "prompt": prompt, **spec})
    assert response.status_code == 202, response.text
    return str(response.json()["runId"])


async def snapshot(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/agent-runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def until_status(client: httpx.AsyncClient, run_id: str, status: str) -> dict[str, Any]:
    for _ in range(250):
        run = await snapshot(client, run_id)
        if run["status"] == status:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never became {status}: {run}")


async def frames_of(
    client: httpx.AsyncClient, run_id: str, **kwargs: Any
) -> tuple[list[dict[str, Any]], bytes]:
    """The frames of a run's stream, read to its end (the run must be about to end)."""
    response = await client.get(f"{BASE}/agent-runs/{run_id}/stream", timeout=15, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.content), response.content


async def second_workspace_key(settings: Any, name: str, scopes: list[str] | None = None) -> str:
    ctx = build_context(settings)
    await ctx.database.connect()
    try:
        _, key = await auth.create_workspace(ctx, name, scopes=scopes)
    finally:
        await ctx.database.close()
    return key


# §2 Authentication


async def test_a_key_is_accepted_as_bearer_token_or_as_x_api_key(app):
    async with api_client(app, key=None) as anonymous:
        bearer = await anonymous.get(
            f"{BASE}/models", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        header = await anonymous.get(f"{BASE}/models", headers={"X-API-Key": ADMIN_KEY})

    assert bearer.status_code == header.status_code == 200


async def test_a_missing_or_invalid_key_is_unauthorized(app):
    async with api_client(app, key=None) as anonymous, api_client(app, key="crl_wrong") as wrong:
        assert_protocol_error(await anonymous.get(f"{BASE}/models"), 401, "unauthorized")
        assert_protocol_error(await wrong.get(f"{BASE}/models"), 401, "unauthorized")
        assert_protocol_error(
            await wrong.post(f"{BASE}/agent-runs", json={**AGENT, "prompt": "x"}),
            401,
            "unauthorized",
        )
        # The key is checked before the slug: a bad key never learns which workspaces exist.
        assert_protocol_error(
            await wrong.get("/api/v1/workspaces/elsewhere/models"), 401, "unauthorized"
        )


async def test_a_workspace_slug_other_than_the_keys_answers_not_found(client, app, settings):
    run_id = await start(client)
    other_key = await second_workspace_key(settings, "other")

    assert_protocol_error(await client.get("/api/v1/workspaces/other/models"), 404, "not_found")
    assert_protocol_error(
        await client.post("/api/v1/workspaces/nope/agent-runs", json={**AGENT, "prompt": "x"}),
        404,
        "not_found",
    )
    async with api_client(app, key=other_key) as theirs:
        assert (await theirs.get("/api/v1/workspaces/other/models")).status_code == 200
        assert_protocol_error(await theirs.get(f"{BASE}/agent-runs/{run_id}"), 404, "not_found")
        assert_protocol_error(
            await theirs.get(f"/api/v1/workspaces/other/agent-runs/{run_id}"), 404, "not_found"
        )


async def test_a_key_without_the_scope_is_refused(app, settings):
    reader = await second_workspace_key(settings, "readers", scopes=["runs:read"])
    async with api_client(app, key=reader) as client:
        response = await client.post(
            "/api/v1/workspaces/readers/agent-runs", json={**AGENT, "prompt": "x"}
        )

    assert_protocol_error(response, 403, "insufficient_scope")


async def test_unknown_paths_under_the_prefix_answer_in_the_protocols_shape(client):
    assert_protocol_error(await client.get(f"{BASE}/agent-things"), 404, "not_found")


async def test_a_body_that_is_not_json_is_an_invalid_request_in_the_protocols_shape(client):
    response = await client.post(
        f"{BASE}/agent-runs", content=b"\x1d\xff{", headers={"content-type": "application/json"}
    )

    assert_protocol_error(response, 400, "invalid_request")


# §3 Models


async def test_models_lists_what_the_server_can_run_with_its_default(client):
    response = await client.get(f"{BASE}/models")

    assert response.status_code == 200
    catalog = response.json()
    ids = [model["id"] for model in catalog["models"]]
    assert catalog["defaultModelId"] == "test"
    test = catalog["models"][ids.index("test")]
    assert test == {
        "id": "test",
        "label": "test (corral)",
        "provider": "corral",
        "vendorModelId": "test",
        "source": "platform_offering",
        "contextWindowTokens": 1_000_000,
        "pricing": None,
    }
    # No provider keys are set in the tests: those models cannot run here, so are not listed.
    assert "anthropic/claude-haiku-4-5" not in ids


@pytest.mark.parametrize("model_id", ["test", "corral/test", "provider:corral:test"])
async def test_a_model_is_named_by_its_id_or_pinned_to_its_provider(client, model_id):
    run_id = await start(client, "which model?", modelId=model_id)

    assert (await wait(client, run_id))["model"] == "test"


async def test_without_a_model_id_the_server_default_runs(client):
    run_id = await start(client, "default please", modelId=None)
    body = {"systemPrompt": "x", "prompt": "no model"}
    created = await client.post(f"{BASE}/agent-runs", json=body)

    assert (await wait(client, run_id))["model"] == "test"
    assert (await wait(client, created.json()["runId"]))["model"] == "test"


async def test_a_model_that_cannot_be_resolved_is_an_invalid_model_with_candidates(client):
    unknown = await client.post(
        f"{BASE}/agent-runs", json={**AGENT, "modelId": "gpt-9", "prompt": "x"}
    )
    keyless = await client.post(
        f"{BASE}/agent-runs", json={**AGENT, "modelId": "claude-haiku-4-5", "prompt": "x"}
    )

    assert assert_protocol_error(unknown, 400, "invalid_model", "/modelId")["candidates"]
    assert assert_protocol_error(keyless, 400, "invalid_model", "/modelId")["candidates"] == [
        "test"
    ]


# §4 Agent spec


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"modelId": "test", "prompt": "x"}, "/systemPrompt"),
        ({**AGENT, "systemPrompt": "", "prompt": "x"}, "/systemPrompt"),
        ({**AGENT}, "/prompt"),
        ({**AGENT, "prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "/messages"),
        ({**AGENT, "messages": [{"role": "system", "content": "only"}]}, "/messages"),
        ({**AGENT, "prompt": "x", "model": "test"}, "/model"),
        ({**AGENT, "prompt": "x", "tools": [{"kind": "remote", "name": "x"}]}, "/tools/0/kind"),
        ({**AGENT, "prompt": "x", "budgets": {"maxToolTurns": -1}}, "/budgets/maxToolTurns"),
        ({**AGENT, "prompt": ""}, "/prompt"),
    ],
    ids=[
        "no-prompt-no-agent",
        "empty-system-prompt",
        "no-input",
        "prompt-and-messages",
        "only-system-messages",
        "unknown-field",
        "unknown-tool-kind",
        "negative-budget",
        "empty-prompt",
    ],
)
async def test_a_bad_agent_spec_is_an_invalid_request_naming_the_field(client, body, field):
    response = await client.post(f"{BASE}/agent-runs", json=body)

    assert_protocol_error(response, 400, "invalid_request", field)


async def test_messages_run_as_a_conversation_and_system_messages_extend_the_prompt(client):
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "[[show_instructions]]"},
    ]
    run_id = await start(client, prompt=None, messages=messages)

    run = await wait(client, run_id)
    assert run["input"] == [m for m in messages if m["role"] != "system"]
    assert run["output"].startswith("You are terse.\n\nAnswer in French.")


async def test_an_inline_agent_gets_only_the_tools_it_lists(client):
    plugin = {"kind": "mantyx_plugin", "name": "@corral/read"}
    run_id = await start(client, "x", tools=[plugin])
    await wait(client, run_id)

    # The snapshot describes the run's frozen spec: builtin tools beyond `read` would show.
    assert (await snapshot(client, run_id))["agentSpec"]["tools"] == [plugin]


@pytest.mark.parametrize(
    ("tool", "field"),
    [
        ({"kind": "mantyx", "id": "tool_123"}, "/tools/0"),
        ({"kind": "mantyx_plugin", "name": "@acme/search"}, "/tools/0/name"),
        ({"kind": "mantyx_plugin", "name": "@corral/teleport"}, "/tools/0/name"),
        ({**WEATHER, "name": "get weather"}, "/tools/0/name"),
    ],
    ids=["workspace-tool-row", "foreign-plugin", "unknown-builtin", "bad-local-name"],
)
async def test_tools_corral_does_not_have_are_refused(client, tool, field):
    response = await client.post(
        f"{BASE}/agent-runs", json={**AGENT, "prompt": "x", "tools": [tool]}
    )

    assert_protocol_error(response, 400, "invalid_request", field)


async def test_budgets_cap_the_tool_turns(client):
    run_id = await start(client, "[[loop]]", tools=[WEATHER], budgets={"maxToolTurns": 0})
    call = (await until_status(client, run_id, "waiting"))["pendingLocalToolCalls"][0]
    await client.post(
        f"{BASE}/agent-runs/{run_id}/tool-results",
        json={"toolUseId": call["toolUseId"], "result": "sunny"},
    )

    run = await snapshot(client, (await wait(client, run_id))["id"])
    assert run["agentSpec"]["budgets"] == {"maxToolTurns": 0}
    assert (run["status"], run["subtype"]) == ("failed", "error_max_turns_exceeded")


# §4.1 agentId


async def make_agent(
    client: httpx.AsyncClient, name: str = "helper", **spec: Any
) -> dict[str, Any]:
    body = {"name": name, "model": "test", "instructions": "[[reply stored agent here]]", **spec}
    response = await client.post("/v1/agents", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_agent_id_runs_the_stored_agent_whose_prompt_wins(client):
    agent = await make_agent(client)

    by_id = await client.post(f"{BASE}/agent-runs", json={"agentId": agent["id"], "prompt": "x"})
    by_name = await client.post(
        f"{BASE}/agent-runs",
        json={"agentId": "helper", "systemPrompt": "[[reply inline prompt]]", "prompt": "x"},
    )

    for response in (by_id, by_name):
        assert response.status_code == 202, response.text
        run = await wait(client, response.json()["runId"])
        assert (run["agent"], run["output"]) == (agent["id"], "stored agent here")


async def test_tools_given_with_an_agent_id_are_merged_on_top_of_the_agents(client):
    await make_agent(client, instructions="", include_builtin_tools=False)
    run_id = await start(client, "weather?", agentId="helper", tools=[WEATHER])

    waiting = await until_status(client, run_id, "waiting")
    [call] = waiting["pendingLocalToolCalls"]
    await client.post(
        f"{BASE}/agent-runs/{run_id}/tool-results",
        json={"toolUseId": call["toolUseId"], "result": "rain"},
    )
    run = await wait(client, run_id)

    assert call["name"] == "get_weather"
    assert (run["agent"], run["output"]) == (
        waiting["agentSpec"]["agentId"],
        "get_weather returned: rain",
    )


async def test_an_agent_id_with_another_model_runs_a_copy_of_the_agent(client):
    await make_agent(client, model="corral/test")
    run_id = await start(client, "x", agentId="helper", modelId="test", budgets={"maxToolTurns": 4})

    run = await wait(client, run_id)
    spec = (await snapshot(client, run_id))["agentSpec"]
    assert (run["agent"], run["output"]) == (None, "stored agent here")
    assert spec["budgets"] == {"maxToolTurns": 4}


@pytest.mark.parametrize("agent_id", ["not an id!", "agt_short", "-leading-dash"])
async def test_a_malformed_agent_id_is_an_invalid_request(client, agent_id):
    response = await client.post(f"{BASE}/agent-runs", json={"agentId": agent_id, "prompt": "x"})

    assert_protocol_error(response, 400, "invalid_request", "/agentId")


async def test_an_unknown_or_foreign_agent_id_is_forbidden(client, app, settings):
    other_key = await second_workspace_key(settings, "other")
    async with api_client(app, key=other_key) as theirs:
        foreign = await make_agent(theirs, "theirs")

    unknown = await client.post(f"{BASE}/agent-runs", json={"agentId": "ghost", "prompt": "x"})
    cross = await client.post(f"{BASE}/agent-runs", json={"agentId": foreign["id"], "prompt": "x"})

    assert_protocol_error(unknown, 403, "forbidden", "/agentId")
    assert_protocol_error(cross, 403, "forbidden", "/agentId")


# §4.2 metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"bad key": "v"},
        {"k" * 65: "v"},
        {"key": "v" * 257},
        {"key": 7},
        {f"k{i}": "v" * 256 for i in range(16)},
    ],
    ids=["17-entries", "key-pattern", "key-too-long", "value-too-long", "not-a-string", "over-4kb"],
)
async def test_metadata_outside_the_limits_is_an_invalid_request(client, metadata):
    run = await client.post(
        f"{BASE}/agent-runs", json={**AGENT, "prompt": "x", "metadata": metadata}
    )
    session = await client.post(f"{BASE}/agent-sessions", json={**AGENT, "metadata": metadata})

    assert_protocol_error(run, 400, "invalid_request")
    assert run.json()["field"].startswith("/metadata")
    assert_protocol_error(session, 400, "invalid_request")


async def test_metadata_is_kept_with_the_run_and_read_back(client):
    run_id = await start(client, metadata={"customer": "acme", "env": "prod"})

    assert (await snapshot(client, run_id))["metadata"] == {"customer": "acme", "env": "prod"}
    assert (await wait(client, run_id))["metadata"] == {"customer": "acme", "env": "prod"}


async def test_a_message_inherits_the_sessions_metadata_and_its_own_keys_win(client):
    created = await client.post(
        f"{BASE}/agent-sessions", json={**AGENT, "metadata": {"customer": "acme", "env": "prod"}}
    )
    session_id = created.json()["sessionId"]
    sent = await client.post(
        f"{BASE}/agent-sessions/{session_id}/messages",
        json={"prompt": "hi", "metadata": {"env": "staging", "trace_id": "t1"}},
    )
    run_id = sent.json()["runId"]
    await wait(client, run_id)

    assert (await snapshot(client, run_id))["metadata"] == {
        "customer": "acme",
        "env": "staging",
        "trace_id": "t1",
    }
    info = (await client.get(f"{BASE}/agent-sessions/{session_id}")).json()
    assert info["metadata"] == {"customer": "acme", "env": "prod"}


# §5 One-shot runs


async def test_a_run_is_accepted_with_its_id_and_stream_url_and_is_a_corral_run(client):
    response = await client.post(
        f"{BASE}/agent-runs",
        json={**AGENT, "prompt": "Hello, facade!", "metadata": {"via": "mantyx"}},
    )

    assert response.status_code == 202
    accepted = response.json()
    run_id = accepted["runId"]
    assert accepted == {"runId": run_id, "streamUrl": f"{BASE}/agent-runs/{run_id}/stream"}
    assert run_id.startswith("run_")
    run = await wait(client, run_id)
    assert (run["status"], run["output"]) == ("completed", "Hello, facade!")
    listed = (await client.get("/v1/runs", params={"metadata": "via:mantyx"})).json()["data"]
    assert [r["id"] for r in listed] == [run_id]


async def test_the_snapshot_tells_the_status_text_error_and_spec(client):
    done = await start(client, "all good", tools=[{"kind": "mantyx_plugin", "name": "read"}])
    failed = await start(client, "[[fail provider_error the model is down]]")
    await wait(client, done)
    await wait(client, failed)

    ok = await snapshot(client, done)
    bad = await snapshot(client, failed)

    assert (ok["status"], ok["subtype"], ok["text"], ok["error"]) == (
        "completed",
        "success",
        "all good",
        None,
    )
    assert ok["agentSpec"]["systemPrompt"] == "You are terse."
    assert ok["agentSpec"]["tools"] == [{"kind": "mantyx_plugin", "name": "@corral/read"}]
    assert ok["usage"]["inputTokens"] > 0 and ok["endedAt"] is not None
    assert (bad["status"], bad["subtype"], bad["error"], bad["errorCode"]) == (
        "failed",
        "error_provider_error",
        "the model is down",
        "provider_error",
    )


async def test_an_unknown_run_is_not_found_on_every_route(client):
    run = f"{BASE}/agent-runs/run_nope"
    assert_protocol_error(await client.get(run), 404, "not_found")
    assert_protocol_error(await client.get(f"{run}/stream"), 404, "not_found")
    assert_protocol_error(await client.post(f"{run}/cancel"), 404, "not_found")
    assert_protocol_error(
        await client.post(f"{run}/tool-results", json={"toolUseId": "x", "result": "y"}),
        404,
        "not_found",
    )


# §6 Sessions


async def test_a_session_keeps_the_conversation_metadata_and_tools_of_its_spec(client):
    created = await client.post(
        f"{BASE}/agent-sessions",
        json={**AGENT, "name": "support", "tools": [WEATHER], "metadata": {"customer": "acme"}},
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert set(session) == {"sessionId", "name", "createdAt"}
    session_id = session["sessionId"]

    first = await client.post(
        f"{BASE}/agent-sessions/{session_id}/messages", json={"prompt": "Weather?"}
    )
    assert first.status_code == 202
    assert first.json()["streamUrl"] == f"{BASE}/agent-runs/{first.json()['runId']}/stream"
    run_id = first.json()["runId"]
    call = (await until_status(client, run_id, "waiting"))["pendingLocalToolCalls"][0]
    await client.post(
        f"{BASE}/agent-runs/{run_id}/tool-results",
        json={"toolUseId": call["toolUseId"], "result": "sunny"},
    )
    await wait(client, run_id)

    info = (await client.get(f"{BASE}/agent-sessions/{session_id}")).json()
    assert info["id"] == session_id and info["status"] == "active"
    assert info["messages"] == [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "get_weather returned: sunny"},
    ]
    assert info["metadata"] == {"customer": "acme"}
    assert info["endedAt"] is None
    assert info["agentSpec"]["tools"] == [WEATHER]
    assert info["agentSpec"]["metadata"] == {"customer": "acme"}


async def test_a_resumed_sdk_may_send_the_sessions_tools_again(client):
    created = await client.post(f"{BASE}/agent-sessions", json={**AGENT, "tools": [WEATHER]})
    session_id = created.json()["sessionId"]
    extra = {**WEATHER, "name": "get_time"}

    sent = await client.post(
        f"{BASE}/agent-sessions/{session_id}/messages",
        json={"prompt": "[[call get_time]]", "tools": [WEATHER, extra]},
    )

    assert sent.status_code == 202, sent.text
    waiting = await until_status(client, sent.json()["runId"], "waiting")
    assert [c["name"] for c in waiting["pendingLocalToolCalls"]] == ["get_time"]
    await client.post(f"{BASE}/agent-runs/{sent.json()['runId']}/cancel")


async def test_a_session_of_a_stored_agent_takes_its_name(client):
    await make_agent(client)
    created = await client.post(f"{BASE}/agent-sessions", json={"agentId": "helper"})
    session_id = created.json()["sessionId"]
    sent = await client.post(f"{BASE}/agent-sessions/{session_id}/messages", json={"prompt": "hi"})
    await wait(client, sent.json()["runId"])

    info = (await client.get(f"{BASE}/agent-sessions/{session_id}")).json()
    assert created.json()["name"] == info["name"] == "helper"
    assert info["messages"][-1] == {"role": "assistant", "content": "stored agent here"}


async def test_a_session_of_a_stored_agent_with_tools_remembers_them(client):
    await make_agent(client, instructions="", include_builtin_tools=False)
    created = await client.post(
        f"{BASE}/agent-sessions", json={"agentId": "helper", "tools": [WEATHER]}
    )
    session_id = created.json()["sessionId"]

    for prompt in ("first", "second"):
        sent = await client.post(
            f"{BASE}/agent-sessions/{session_id}/messages", json={"prompt": prompt}
        )
        run_id = sent.json()["runId"]
        call = await wait_for_call(client, run_id)
        await client.post(
            f"{BASE}/agent-runs/{run_id}/tool-results",
            json={"toolUseId": call["toolUseId"], "result": prompt},
        )
        assert (await wait(client, run_id))["output"] == f"get_weather returned: {prompt}"


async def test_a_session_body_takes_no_prompt(client):
    response = await client.post(f"{BASE}/agent-sessions", json={**AGENT, "prompt": "x"})

    assert_protocol_error(response, 400, "invalid_request", "/prompt")


async def test_deleting_a_session_ends_it_cancels_its_run_and_is_idempotent(client):
    session_id = (await client.post(f"{BASE}/agent-sessions", json=AGENT)).json()["sessionId"]
    sent = await client.post(
        f"{BASE}/agent-sessions/{session_id}/messages", json={"prompt": "[[delay 5s]] slow"}
    )
    run_id = sent.json()["runId"]

    first = await client.delete(f"{BASE}/agent-sessions/{session_id}")
    again = await client.delete(f"{BASE}/agent-sessions/{session_id}")
    frames, _ = await frames_of(client, run_id)
    info = (await client.get(f"{BASE}/agent-sessions/{session_id}")).json()
    late = await client.post(f"{BASE}/agent-sessions/{session_id}/messages", json={"prompt": "hi"})

    assert first.status_code == again.status_code == 200
    assert first.json() == {"ok": True}
    assert frames[-1]["data"]["type"] == "cancelled"
    assert info["status"] == "ended" and info["endedAt"] is not None
    assert_protocol_error(late, 409, "session_ended")


async def test_an_unknown_session_is_not_found_on_every_route(client):
    session = f"{BASE}/agent-sessions/ses_nope"
    assert_protocol_error(await client.get(session), 404, "not_found")
    assert_protocol_error(await client.delete(session), 404, "not_found")
    assert_protocol_error(
        await client.post(f"{session}/messages", json={"prompt": "hi"}), 404, "not_found"
    )
    assert_protocol_error(
        await client.post(f"{session}/messages", json={"prompt": "hi", "tools": [WEATHER]}),
        404,
        "not_found",
    )


# §7 SSE stream


async def test_the_stream_carries_the_protocols_events_with_fields_at_the_top_level(client):
    run_id = await start(client, "[[think let me see]] Hi there", tools=[WEATHER])
    call = (await until_status(client, run_id, "waiting"))["pendingLocalToolCalls"][0]
    await client.post(
        f"{BASE}/agent-runs/{run_id}/tool-results",
        json={"toolUseId": call["toolUseId"], "result": "sunny"},
    )

    frames, _ = await frames_of(client, run_id)

    assert [int(f["id"]) for f in frames] == [f["data"]["seq"] for f in frames]
    assert [f["data"]["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert all(f["event"] == f["data"]["type"] for f in frames)
    by_type = {f["data"]["type"]: f["data"] for f in frames}
    assert by_type["started"]["model"] == "test"
    assert by_type["thinking_delta"]["text"] == "let me see"
    assert by_type["local_tool_call"]["toolUseId"] == call["toolUseId"]
    assert by_type["local_tool_call"]["args"] == {"city": "example"}
    assert by_type["local_tool_result_in"]["result"] == "sunny"
    assert by_type["assistant_message"]["text"] == "get_weather returned: sunny"
    assert by_type["usage"]["inputTokens"] > 0
    assert "".join(f["data"]["text"] for f in frames if f["event"] == "assistant_delta") == (
        "get_weather returned: sunny"
    )
    assert frames[-1]["data"] == {
        "seq": frames[-1]["data"]["seq"],
        "type": "result",
        "subtype": "success",
        "text": "get_weather returned: sunny",
        "runId": run_id,
        "createdAt": frames[-1]["data"]["createdAt"],
    }


async def test_server_tools_show_as_tool_results_with_a_start_and_an_end(client):
    run_id = await start(
        client,
        '[[call write {"path": "a.txt", "content": "hi"}]]',
        tools=[{"kind": "mantyx_plugin", "name": "@corral/write"}],
    )
    await wait(client, run_id)

    frames, _ = await frames_of(client, run_id)

    tools = [f["data"] for f in frames if f["event"] == "tool_result"]
    assert [(t["phase"], t["name"]) for t in tools] == [("start", "write"), ("end", "write")]
    assert tools[0]["args"] == {"path": "a.txt", "content": "hi"}
    assert tools[1]["toolUseId"] == tools[0]["toolUseId"] and isinstance(tools[1]["ok"], bool)


async def test_a_failed_run_ends_its_stream_with_an_error_result(client):
    run_id = await start(client, "[[fail provider_rate_limited slow down]]")
    await wait(client, run_id)

    frames, _ = await frames_of(client, run_id)

    assert frames[-1]["data"]["type"] == "result"
    assert frames[-1]["data"]["subtype"] == "error_provider_rate_limited"
    assert frames[-1]["data"]["error"] == "slow down"
    assert sum(f["data"]["type"] in ("result", "cancelled") for f in frames) == 1


@pytest.mark.parametrize("how", ["last_event_id", "last_seq", "both"])
async def test_a_stream_replays_after_last_event_id_or_last_seq(client, how):
    run_id = await start(client, "[[stream_delay 20ms]] [[deltas 12]] count with me")
    await wait(client, run_id)
    everything, _ = await frames_of(client, run_id)
    assert len(everything) > 5
    cursors: dict[str, dict[str, Any]] = {
        "last_event_id": {"headers": {"Last-Event-ID": "5"}},
        "last_seq": {"params": {"lastSeq": 5}},
        "both": {"headers": {"Last-Event-ID": "5"}, "params": {"lastSeq": 5}},
    }
    kwargs = cursors[how]

    rest, _ = await frames_of(client, run_id, **kwargs)

    assert [f["data"] for f in rest] == [f["data"] for f in everything[5:]]


async def test_a_bad_cursor_is_an_invalid_request(client):
    run_id = await start(client)
    url = f"{BASE}/agent-runs/{run_id}/stream"

    assert_protocol_error(await client.get(url, params={"lastSeq": "x"}), 400, "invalid_request")
    assert_protocol_error(
        await client.get(url, headers={"Last-Event-ID": "soon"}), 400, "invalid_request"
    )


async def test_a_live_stream_sends_keep_alives_follows_the_run_and_closes_after_it(
    make_settings,
):
    async with LiveServer(make_settings(sse_heartbeat_s=0.1)) as server, server.client() as client:
        run_id = await start(client, "[[delay 400ms]] [[stream_delay 5ms]] [[deltas 20]] go")
        response = await client.get(f"{BASE}/agent-runs/{run_id}/stream", timeout=15)

    frames = parse_sse(response.content)
    assert b": keep-alive\n\n" in response.content
    deltas = [f["data"]["text"] for f in frames if f["event"] == "assistant_delta"]
    assert len(deltas) > 1, "the answer arrived in pieces, as it was written"
    assert frames[-1]["event"] == "result"
    assert "".join(deltas) == frames[-1]["data"]["text"]


async def test_a_reconnect_mid_run_resumes_without_gaps_or_repeats(live_server):
    async with live_server.client() as client:
        run_id = await start(client, "[[stream_delay 10ms]] [[deltas 40]] go")
        url = f"{BASE}/agent-runs/{run_id}/stream"
        first: list[dict[str, Any]] = []
        async with client.stream("GET", url, timeout=15) as response:
            buffer = b""
            async for chunk in response.aiter_bytes():
                buffer += chunk
                first = parse_sse(buffer)
                if len(first) >= 10:
                    break
        seen = first[:10]
        rest = parse_sse(
            (await client.get(url, params={"lastSeq": seen[-1]["id"]}, timeout=15)).content
        )
        everything = parse_sse((await client.get(url, timeout=15)).content)

    assert [f["data"] for f in seen + rest] == [f["data"] for f in everything]


# §8 Local tool results


async def wait_for_call(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    return dict((await until_status(client, run_id, "waiting"))["pendingLocalToolCalls"][0])


async def test_a_local_tool_error_goes_to_the_model_and_the_run_goes_on(client):
    run_id = await start(client, "weather?", tools=[WEATHER])
    call = await wait_for_call(client, run_id)

    answer = await client.post(
        f"{BASE}/agent-runs/{run_id}/tool-results",
        json={"toolUseId": call["toolUseId"], "error": "ENOENT: no such file"},
    )
    run = await wait(client, run_id)
    frames, _ = await frames_of(client, run_id)

    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert run["output"] == "get_weather failed: ENOENT: no such file"
    echo = next(f["data"] for f in frames if f["event"] == "local_tool_result_in")
    assert echo["error"] == "ENOENT: no such file" and "result" not in echo


async def test_a_result_for_an_unknown_or_answered_tool_use_is_unknown_tool_use(client):
    run_id = await start(
        client,
        '[[call get_weather {"city": "Oslo"}]] [[call get_time {"city": "Lima"}]]',
        tools=[WEATHER, {**WEATHER, "name": "get_time"}],
    )
    waiting = await until_status(client, run_id, "waiting")
    first, _second = waiting["pendingLocalToolCalls"]
    url = f"{BASE}/agent-runs/{run_id}/tool-results"

    unknown = await client.post(url, json={"toolUseId": "call_nope", "result": "x"})
    answered = await client.post(url, json={"toolUseId": first["toolUseId"], "result": "x"})
    twice = await client.post(url, json={"toolUseId": first["toolUseId"], "result": "x"})

    assert answered.status_code == 200
    assert_protocol_error(unknown, 404, "unknown_tool_use", "/toolUseId")
    assert_protocol_error(twice, 404, "unknown_tool_use", "/toolUseId")
    await client.post(f"{BASE}/agent-runs/{run_id}/cancel")


async def test_a_result_after_the_run_produced_its_result_is_run_terminal(client):
    run_id = await start(client, "weather?", tools=[WEATHER])
    call = await wait_for_call(client, run_id)
    url = f"{BASE}/agent-runs/{run_id}/tool-results"
    await client.post(url, json={"toolUseId": call["toolUseId"], "result": "sunny"})
    await wait(client, run_id)

    late = await client.post(url, json={"toolUseId": call["toolUseId"], "result": "again"})

    assert_protocol_error(late, 409, "run_terminal")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"toolUseId": "x", "result": "a", "error": "b"}, "/error"),
        ({"toolUseId": "x"}, "/result"),
        ({"toolUseId": "x", "result": {"structured": True}}, "/result"),
        ({"result": "a"}, "/toolUseId"),
    ],
    ids=["both", "neither", "not-a-string", "no-tool-use-id"],
)
async def test_a_malformed_tool_result_is_an_invalid_request(client, body, field):
    run_id = await start(client)

    response = await client.post(f"{BASE}/agent-runs/{run_id}/tool-results", json=body)

    assert_protocol_error(response, 400, "invalid_request", field)


# §9 Cancellation


async def test_cancel_ends_the_run_with_a_cancelled_event_and_is_idempotent(client):
    run_id = await start(client, "[[delay 5s]] slow")

    first = await client.post(f"{BASE}/agent-runs/{run_id}/cancel")
    again = await client.post(f"{BASE}/agent-runs/{run_id}/cancel")
    frames, _ = await frames_of(client, run_id)

    assert (first.status_code, first.json()) == (200, {"ok": True})
    assert (again.status_code, again.json()) == (200, {"ok": True})
    assert frames[-1]["data"]["type"] == "cancelled"
    assert (await snapshot(client, run_id))["status"] == "cancelled"


async def test_cancelling_an_ended_run_leaves_it_as_it_ended(client):
    run_id = await start(client, "done")
    await wait(client, run_id)

    response = await client.post(f"{BASE}/agent-runs/{run_id}/cancel")

    assert response.status_code == 200
    assert (await snapshot(client, run_id))["status"] == "completed"


async def test_a_tool_result_posted_after_a_cancel_is_accepted_and_ignored(client):
    run_id = await start(client, "weather?", tools=[WEATHER])
    call = await wait_for_call(client, run_id)
    await client.post(f"{BASE}/agent-runs/{run_id}/cancel")

    response = await client.post(
        f"{BASE}/agent-runs/{run_id}/tool-results",
        json={"toolUseId": call["toolUseId"], "result": "too late"},
    )
    frames, _ = await frames_of(client, run_id)

    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert "local_tool_result_in" not in [f["event"] for f in frames]


# Scopes beyond the route's own

SECRET_PROMPT = "[[reply stored agent here]] Never tell anyone the code word swordfish."


async def test_a_snapshot_shows_the_agents_definition_only_to_a_key_with_agents_read(
    client, app, settings
):
    agent = await make_agent(client, instructions=SECRET_PROMPT)
    linked = await start(client, "x", agentId="helper")
    copied = await start(client, "x", agentId="helper", budgets={"maxToolTurns": 2})
    inline = await start(client, "x")
    for run_id in (linked, copied, inline):
        await wait(client, run_id)
    runs_reader = await scoped_key(settings, ["runs:read"])
    agents_reader = await scoped_key(settings, ["runs:read", "agents:read"])

    async with (
        api_client(app, key=runs_reader) as reader,
        api_client(app, key=agents_reader) as full,
    ):
        assert (await reader.get("/v1/agents")).status_code == 403
        outlines = [await snapshot(reader, run_id) for run_id in (linked, copied, inline)]
        complete = [await snapshot(full, run_id) for run_id in (linked, copied, inline)]

    assert [run["agentSpec"] for run in outlines] == [
        {"agentId": agent["id"], "modelId": "test", "metadata": {}},
        {"modelId": "test", "metadata": {}},
        {"modelId": "test", "metadata": {}},
    ]
    assert "swordfish" not in str(outlines)
    assert outlines[0]["text"] == "stored agent here"
    assert complete[0]["agentSpec"]["systemPrompt"] == SECRET_PROMPT
    assert complete[0]["agentSpec"]["tools"]
    assert complete[1]["agentSpec"]["systemPrompt"] == SECRET_PROMPT
    assert complete[1]["agentSpec"]["budgets"] == {"maxToolTurns": 2}
    assert complete[2]["agentSpec"]["systemPrompt"] == AGENT["systemPrompt"]


async def test_a_session_shows_its_agents_definition_and_name_only_with_agents_read(
    client, app, settings
):
    agent = await make_agent(client, instructions=SECRET_PROMPT)
    session_id = (await client.post(f"{BASE}/agent-sessions", json={"agentId": "helper"})).json()[
        "sessionId"
    ]
    session_reader = await scoped_key(settings, ["sessions:read"])
    agents_reader = await scoped_key(settings, ["sessions:read", "agents:read"])
    session_writer = await scoped_key(settings, ["sessions:write"])

    async with (
        api_client(app, key=session_reader) as reader,
        api_client(app, key=agents_reader) as full,
        api_client(app, key=session_writer) as writer,
    ):
        outline = (await reader.get(f"{BASE}/agent-sessions/{session_id}")).json()
        complete = (await full.get(f"{BASE}/agent-sessions/{session_id}")).json()
        opened = await writer.post(f"{BASE}/agent-sessions", json={"agentId": agent["id"]})

    assert outline["agentSpec"] == {"agentId": agent["id"], "modelId": "test", "metadata": {}}
    assert outline["name"] == agent["id"]
    assert (complete["name"], complete["agentSpec"]["systemPrompt"]) == ("helper", SECRET_PROMPT)
    assert opened.status_code == 201, opened.text
    assert opened.json()["name"] == agent["id"]


async def test_a_run_of_a_session_takes_the_sessions_scopes_on_the_run_routes(
    client, app, settings
):
    session_id = (await client.post(f"{BASE}/agent-sessions", json=AGENT)).json()["sessionId"]
    messages = f"{BASE}/agent-sessions/{session_id}/messages"
    answered = (await client.post(messages, json={"prompt": "private"})).json()["runId"]
    await wait(client, answered)
    waiting = (await client.post(messages, json={"prompt": "?", "tools": [WEATHER]})).json()
    call = await wait_for_call(client, waiting["runId"])
    run = f"{BASE}/agent-runs/{waiting['runId']}"
    runs_only = await scoped_key(settings, ["runs:write"])
    session_reader = await scoped_key(settings, ["runs:write", "sessions:read"])

    async with (
        api_client(app, key=runs_only) as outsider,
        api_client(app, key=session_reader) as reader,
    ):
        refusals = [
            (await outsider.get(f"{BASE}/agent-runs/{answered}"), "sessions:read"),
            (await outsider.get(f"{BASE}/agent-runs/{answered}/stream"), "sessions:read"),
            (
                await reader.post(
                    f"{run}/tool-results", json={"toolUseId": call["toolUseId"], "result": "x"}
                ),
                "sessions:write",
            ),
            (await reader.post(f"{run}/cancel"), "sessions:write"),
        ]
        read = await reader.get(f"{BASE}/agent-runs/{answered}")

    for response, scope in refusals:
        assert assert_protocol_error(response, 403, "insufficient_scope")["required_scope"] == scope
    assert read.status_code == 200 and read.json()["text"] == "private"
    assert (await snapshot(client, waiting["runId"]))["status"] == "waiting"
    await client.post(f"{run}/cancel")
