"""Runs on real provider adapters, against recorded provider traffic served on a local port.

The whole path is real: the API, the worker, the adapter and the provider's SDK over a socket;
only the provider is a replay (`tests/providers/cassettes.py`). Covered: keys brought with a run
or a session (sealed, never shown, forgotten at the end), keys from the server's environment,
usage priced from the catalog, retries of a stream cut mid-turn without repeating text, and the
failure codes of provider errors.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from corral.security.sealed import new_secret
from corral.settings import Settings
from tests.conftest import api_client, running_app
from tests.helpers import events, wait
from tests.providers.cassettes import Cassette, replay

RUN_KEY = "sk-run-key-0123456789-never-shown"
SERVER_KEY = "sk-server-key-9876543210"
# openai/chat-stream-text-usage.sse: five content deltas, then usage 12 in / 5 out.
RECORDED_TEXT = '"This is a test."'
GPT_4O_MINI = (0.15, 0.6)  # shipped catalog prices per million tokens


@asynccontextmanager
async def corral(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    cassette_name: str,
    env: dict[str, str],
    **replaying: Any,
) -> AsyncIterator[tuple[Cassette, Any, httpx.AsyncClient]]:
    """The cassette replayed, and a started app whose environment has `env`.

    `{url}` in a value of `env` is the replay's base URL (to point a provider there).
    """
    async with replay(cassette_name, **replaying) as cassette:
        for name, value in env.items():
            monkeypatch.setenv(name, value.format(url=cassette.base_url))
        settings = make_settings(provider_retry_base_s=0.01, provider_max_retries=2)
        async with running_app(settings) as app, api_client(app) as client:
            yield cassette, app, client


async def column(app: Any, table: str, row_id: str, name: str) -> Any:
    """One stored value, read past the API."""

    def read(conn: Any) -> Any:
        return conn.execute(sa.text(f"SELECT {name} FROM {table} WHERE id = :id"), {"id": row_id})

    return await app.state.ctx.database.read(lambda conn: read(conn).scalar_one())


async def stored_text(app: Any, run_id: str) -> str:
    """Everything stored about a run, as text: its row and its events."""

    def read(conn: Any) -> str:
        row = conn.execute(sa.text("SELECT * FROM runs WHERE id = :id"), {"id": run_id}).one()
        logged = conn.execute(
            sa.text("SELECT data FROM run_events WHERE run_id = :id"), {"id": run_id}
        ).scalars()
        return json.dumps([str(value) for value in row]) + "".join(logged)

    return str(await app.state.ctx.database.read(read))


async def test_a_run_with_its_own_key_streams_the_text_and_prices_the_usage(
    make_settings, monkeypatch
):
    async with corral(
        make_settings, monkeypatch, "openai/chat-stream-text-usage", {"OPENAI_BASE_URL": "{url}/v1"}
    ) as (cassette, app, client):
        submitted = await client.post(
            "/v1/runs",
            json={
                "agent_spec": {"model": "gpt-4o-mini", "instructions": "Be brief."},
                "input": "Say this is a test",
                "api_keys": {"openai": RUN_KEY},
            },
        )
        run = await wait(client, submitted.json()["id"])
        logged = await events(client, run["id"])
        stored = await stored_text(app, run["id"])

    assert submitted.status_code == 202, submitted.text
    assert run["status"] == "completed", run
    assert run["model"] == "openai/gpt-4o-mini"
    assert run["output"] == RECORDED_TEXT
    assert "".join(e["text"] for e in logged if e["type"] == "message.delta") == RECORDED_TEXT
    usage = next(e for e in logged if e["type"] == "usage")
    expected_cost = (12 * GPT_4O_MINI[0] + 5 * GPT_4O_MINI[1]) / 1e6
    assert (usage["input_tokens"], usage["output_tokens"]) == (12, 5)
    assert usage["cost_usd"] == pytest.approx(expected_cost)
    assert run["usage"]["cost_usd"] == pytest.approx(expected_cost)
    [sent] = cassette.sent
    assert sent.headers["Authorization"] == f"Bearer {RUN_KEY}"
    assert sent.json()["model"] == "gpt-4o-mini"
    assert sent.json()["messages"][0] == {"role": "system", "content": "Be brief."}
    assert RUN_KEY not in json.dumps(run) + json.dumps(logged) + stored


async def test_the_server_key_is_used_when_the_run_brings_none(make_settings, monkeypatch):
    async with corral(
        make_settings,
        monkeypatch,
        "openai/chat-stream-text-usage",
        {"OPENAI_BASE_URL": "{url}/v1", "OPENAI_API_KEY": SERVER_KEY},
    ) as (cassette, _, client):
        models = (await client.get("/v1/models")).json()["models"]
        submitted = await client.post(
            "/v1/runs", json={"agent_spec": {"model": "gpt-4o-mini"}, "input": "hi"}
        )
        run = await wait(client, submitted.json()["id"])

    assert run["status"] == "completed"
    assert cassette.sent[0].headers["Authorization"] == f"Bearer {SERVER_KEY}"
    listed = {m["id"]: m for m in models}
    assert listed["openai/gpt-4o-mini"]["requires_api_key"] is False
    assert listed["anthropic/claude-haiku-4-5"]["requires_api_key"] is True
    assert listed["anthropic/claude-haiku-4-5"]["pricing"] == {
        "input_per_mtok": 1.0,
        "output_per_mtok": 5.0,
        "cache_read_per_mtok": 0.1,
        "cache_write_per_mtok": 1.25,
    }


async def test_a_session_keeps_its_key_sealed_until_it_ends(make_settings, monkeypatch):
    async with corral(
        make_settings,
        monkeypatch,
        "openai/chat-stream-text-usage",
        {"OPENAI_BASE_URL": "{url}/v1"},
        order=[0, 0],
    ) as (cassette, app, client):
        refused = await client.post("/v1/sessions", json={"agent_spec": {"model": "gpt-4o"}})
        session = (
            await client.post(
                "/v1/sessions",
                json={"agent_spec": {"model": "gpt-4o"}, "api_keys": {"openai": RUN_KEY}},
            )
        ).json()
        sealed = await column(app, "sessions", session["id"], "api_keys")
        first = await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "one"})
        await wait(client, first.json()["id"])
        second = await client.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"input": "two", "api_keys": {"openai": "sk-another-key"}},
        )
        await wait(client, second.json()["id"])
        shown = (await client.get(f"/v1/sessions/{session['id']}")).json()
        await client.delete(f"/v1/sessions/{session['id']}")
        after_end = await column(app, "sessions", session["id"], "api_keys")

    assert refused.status_code == 400
    assert refused.json()["error"] == "missing_provider_key"
    assert sealed and RUN_KEY not in sealed
    assert app.state.ctx.secrets.open(sealed) == {"openai": RUN_KEY}
    assert [s.headers["Authorization"] for s in cassette.sent] == [
        f"Bearer {RUN_KEY}",
        "Bearer sk-another-key",
    ]
    assert RUN_KEY not in json.dumps(shown)
    assert after_end is None


async def test_a_stream_cut_mid_turn_is_retried_without_repeating_text(make_settings, monkeypatch):
    # The first answer breaks off after '"This is a' (1,100 bytes); the retry gets it whole.
    async with corral(
        make_settings,
        monkeypatch,
        "openai/chat-stream-text-usage",
        {"OPENAI_BASE_URL": "{url}/v1", "OPENAI_API_KEY": SERVER_KEY},
        order=[0, 0],
        cut_after={0: 1100},
    ) as (cassette, _, client):
        submitted = await client.post(
            "/v1/runs", json={"agent_spec": {"model": "gpt-4o-mini"}, "input": "hi"}
        )
        run = await wait(client, submitted.json()["id"])
        logged = await events(client, run["id"])

    deltas = [e["text"] for e in logged if e["type"] == "message.delta"]
    assert len(cassette.sent) == 2
    assert run["status"] == "completed"
    assert "".join(deltas) == RECORDED_TEXT
    assert run["output"] == RECORDED_TEXT


async def test_a_refused_key_fails_the_run_at_once_with_provider_auth_error(
    make_settings, monkeypatch
):
    async with corral(
        make_settings,
        monkeypatch,
        "anthropic/error-401-authentication-stream",
        {"ANTHROPIC_BASE_URL": "{url}"},
    ) as (cassette, _, client):
        submitted = await client.post(
            "/v1/runs",
            json={
                "agent_spec": {"model": "claude-haiku-4-5"},
                "input": "hi",
                "api_keys": {"anthropic": "sk-ant-wrong"},
            },
        )
        run = await wait(client, submitted.json()["id"])

    assert len(cassette.sent) == 1
    assert cassette.sent[0].headers["Authorization"] == "Bearer sk-ant-wrong"
    assert run["status"] == "failed"
    assert run["error"]["code"] == "provider_auth_error"
    assert "invalid x-api-key" in run["error"]["message"]


async def test_a_provider_that_keeps_rate_limiting_fails_the_run_after_the_retries(
    make_settings, monkeypatch
):
    # The recording holds three identical 429 answers; two retries use them all.
    async with corral(
        make_settings,
        monkeypatch,
        "openrouter/error-429-upstream-rate-limited",
        {"OPENROUTER_BASE_URL": "{url}/api/v1", "OPENROUTER_API_KEY": SERVER_KEY},
    ) as (cassette, _, client):
        submitted = await client.post(
            "/v1/runs",
            json={
                "agent_spec": {"model": "openrouter/google/gemini-2.0-flash-exp:free"},
                "input": "Tell me a joke.",
            },
        )
        run = await wait(client, submitted.json()["id"])

    assert len(cassette.sent) == 3
    assert cassette.sent[0].path == "/api/v1/chat/completions"
    assert cassette.sent[0].json()["model"] == "google/gemini-2.0-flash-exp:free"
    assert run["status"] == "failed"
    assert run["error"]["code"] == "provider_rate_limited"


async def test_workers_open_a_runs_key_only_with_the_api_nodes_secret(make_settings, monkeypatch):
    shared, other = new_secret(), new_secret()
    api_settings = make_settings(embedded_worker=False, secret_key=shared)
    body = {
        "agent_spec": {"model": "gpt-4o-mini", "model_settings": {"temperature": 0.2}},
        "input": "Say this is a test",
        "api_keys": {"openai": RUN_KEY},
    }
    async with replay("openai/chat-stream-text-usage") as cassette:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{cassette.base_url}/v1")
        async with running_app(api_settings) as api, api_client(api) as client:
            first = (await client.post("/v1/runs", json=body)).json()
            async with running_app(make_settings(secret_key=other)):
                refused = await wait(client, first["id"])
            second = (await client.post("/v1/runs", json=body)).json()
            async with running_app(make_settings(secret_key=shared)):
                completed = await wait(client, second["id"])

    assert refused["status"] == "failed"
    assert refused["error"]["code"] == "missing_provider_key"
    assert "CORRAL_SECRET_KEY" in refused["error"]["message"]
    assert completed["status"] == "completed"
    [sent] = cassette.sent
    assert sent.headers["Authorization"] == f"Bearer {RUN_KEY}"
    assert sent.json()["temperature"] == 0.2


async def test_a_self_hosted_server_from_the_catalog_file_answers_whole_when_told_not_to_stream(
    make_settings, tmp_path
):
    async with replay("vllm/chat-text") as cassette:
        catalog_file = tmp_path / "catalog.yaml"
        catalog_file.write_text(
            f"""
providers:
  vllm: {{base_url: "{cassette.base_url}/v1", stream: false}}
models:
  - {{id: llama-small, provider: vllm, model: meta-llama/Llama-3.2-1B-Instruct,
     context_window: 131072}}
"""
        )
        settings = make_settings(model_catalog=catalog_file)
        async with running_app(settings) as app, api_client(app) as client:
            submitted = await client.post(
                "/v1/runs",
                json={
                    "agent_spec": {"model": "llama-small"},
                    "input": "Tell me a joke about opentelemetry",
                },
            )
            run = await wait(client, submitted.json()["id"])
            logged = await events(client, run["id"])

    # vllm/chat-text.json: one whole answer, usage 43 in / 36 out.
    assert run["status"] == "completed", run
    assert run["model"] == "vllm/llama-small"
    assert run["output"].startswith("Why did the OpenTelemetry metric go to therapy?")
    assert [e["text"] for e in logged if e["type"] == "message.delta"] == [run["output"]]
    assert (run["usage"]["input_tokens"], run["usage"]["output_tokens"]) == (43, 36)
    assert run["usage"]["cost_usd"] == 0.0
    sent = cassette.sent_json(0)
    assert sent["model"] == "meta-llama/Llama-3.2-1B-Instruct"
    assert sent["messages"] == cassette.interactions[0].request_body["messages"]
    assert not sent.get("stream")
