"""Every malformed request gets the protocol's error body: the right status, code and field.

The rejections change nothing, so most tables share one started app per backend; the few tests
that need their own state or settings build their own.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from corral.settings import Settings
from corral.storage.database import Database
from tests.conftest import ADMIN_KEY, BACKENDS, PG_URL, api_client, running_app
from tests.helpers import assert_error

SPEC = {"model": "test"}
WEATHER = {
    "type": "client",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
JSON = {"content-type": "application/json"}
SIXTEEN_TAGS = {f"k{i}": "v" for i in range(16)}
TEN_TAGS = {f"agent{i}": "v" for i in range(10)}
SEVEN_TAGS = {f"run{i}": "v" for i in range(7)}
on_the_shared_app = pytest.mark.asyncio(loop_scope="module")


def assert_rejected(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """The protocol's error body, with this status and code.

    The body has exactly this field (None: no field), a message, and the request id of the
    `X-Request-Id` header.
    """
    assert_error(response, status, code)
    body: dict[str, Any] = response.json()
    assert body.get("field") == field, body
    assert body["request_id"] == response.headers["x-request-id"], body
    return body


@dataclass(frozen=True, kw_only=True)
class SharedServer:
    """A started app and the objects the rejections refer to."""

    app: Any
    client: httpx.AsyncClient
    waiting_run: str
    """A run parked on a client tool call."""
    ended_run: str
    live_session: str
    """A session whose metadata has ten entries."""
    ended_session: str


async def until_status(client: httpx.AsyncClient, run_id: str, *statuses: str) -> None:
    for _ in range(500):
        if (await client.get(f"/v1/runs/{run_id}")).json()["status"] in statuses:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {statuses}")


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    response = await client.post(path, json=body)
    assert response.status_code in (201, 202), response.text
    return str(response.json()["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SharedServer]:
    """One started app per backend for the tables of rejections, which change nothing."""
    data_dir = tmp_path_factory.mktemp("shared")
    schema = f"t_{uuid.uuid4().hex[:12]}" if request.param == "postgres" else None
    admin = Database(PG_URL) if schema else None
    if admin is not None:
        await admin.connect()
        await admin.run_sync_admin(lambda c: c.execute(sa.text(f'CREATE SCHEMA "{schema}"')))
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("CORRAL_")]:
            env.delenv(name)
        settings = Settings(
            data_dir=data_dir / "data",
            database_url=PG_URL if schema else f"sqlite:///{data_dir / 'corral.db'}",
            database_schema=schema,
            bootstrap_key=ADMIN_KEY,
            lease_s=2.0,
            poll_interval_s=0.2,
            resync_s=1.0,
            shutdown_grace_s=0.0,
            key_cache_s=60.0,
        )
    try:
        async with running_app(settings) as app, api_client(app) as client:
            await created(client, "/v1/agents", {"name": "echo", **SPEC})
            await created(client, "/v1/agents", {"name": "tagged", **SPEC, "metadata": TEN_TAGS})
            waiting = await created(
                client, "/v1/runs", {"agent_spec": {**SPEC, "tools": [WEATHER]}, "input": "hi"}
            )
            ended = await created(client, "/v1/runs", {"agent_spec": SPEC, "input": "done"})
            live = await created(client, "/v1/sessions", {"agent_spec": SPEC, "metadata": TEN_TAGS})
            gone = await created(client, "/v1/sessions", {"agent_spec": SPEC})
            assert (await client.delete(f"/v1/sessions/{gone}")).status_code == 200
            await until_status(client, waiting, "waiting")
            await until_status(client, ended, "completed")
            yield SharedServer(
                app=app,
                client=client,
                waiting_run=waiting,
                ended_run=ended,
                live_session=live,
                ended_session=gone,
            )
    finally:
        if admin is not None:
            await admin.run_sync_admin(
                lambda c: c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            )
            await admin.close()


# -- POST /v1/runs ---------------------------------------------------------------------------


def raw(content: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": content, "headers": {"content-type": content_type}}


def run(**body: Any) -> dict[str, Any]:
    """The request of a run with an inline test agent, with `body` merged over it."""
    return {"json": {"agent_spec": SPEC, "input": "hi", **body}}


def spec(**fields: Any) -> dict[str, Any]:
    return run(agent_spec={**SPEC, **fields})


RUN_REJECTIONS = [
    pytest.param(raw(b"{not json"), "/", id="body-not-json"),
    pytest.param(raw(b'{"input": "hi"'), "/", id="body-truncated"),
    pytest.param(raw(b""), "/", id="body-empty"),
    pytest.param(raw(b"\xff\xfe"), "/", id="body-not-utf8"),
    pytest.param(
        raw(b'{"agent_spec": {"model": "test"}, "input": "\xff"}'), "/", id="string-not-utf8"
    ),
    pytest.param(raw(b'{"input": "hi"}', "text/plain"), "/", id="body-not-declared-json"),
    pytest.param({"json": [SPEC, "hi"]}, "/", id="body-an-array"),
    pytest.param({"json": "hi"}, "/", id="body-a-string"),
    pytest.param(raw(b"null"), "/", id="body-null"),
    pytest.param({"json": {"agent_spec": SPEC}}, "/input", id="input-missing"),
    pytest.param(run(input=""), "/input", id="input-empty-string"),
    pytest.param(run(input=[]), "/input", id="input-empty-list"),
    pytest.param(run(input=5), "/input", id="input-a-number"),
    pytest.param(run(input=None), "/input", id="input-null"),
    pytest.param(
        run(input=[{"role": "system", "content": "x"}]), "/input/0/role", id="role-unknown"
    ),
    pytest.param(
        run(input=[{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]),
        "/input/1/role",
        id="role-unknown-in-second-message",
    ),
    pytest.param(run(input=[{"content": "x"}]), "/input/0/role", id="role-missing"),
    pytest.param(
        run(input=[{"role": "user", "content": ""}]), "/input/0/content", id="content-empty"
    ),
    pytest.param(run(input=[{"role": "user"}]), "/input/0/content", id="content-missing"),
    pytest.param(
        run(input=[{"role": "user", "content": 1}]), "/input/0/content", id="content-a-number"
    ),
    pytest.param(
        run(input=[{"role": "user", "content": "x", "name": "bob"}]),
        "/input/0/name",
        id="message-unknown-field",
    ),
    pytest.param(run(input=["hi"]), "/input/0", id="message-not-an-object"),
    pytest.param(run(bogus=1), "/bogus", id="unknown-top-level-field"),
    pytest.param(run(Input="hi"), "/Input", id="field-names-are-case-sensitive"),
    pytest.param(spec(bogus=1), "/agent_spec/bogus", id="unknown-agent-spec-field"),
    pytest.param(spec(name="x"), "/agent_spec/name", id="agent-spec-with-a-name"),
    pytest.param(run(agent="echo"), "/agent_spec", id="both-agent-and-agent-spec"),
    pytest.param(run(session="ses_x"), "/session", id="both-agent-spec-and-session"),
    pytest.param({"json": {"input": "hi"}}, "/agent", id="neither-agent-nor-agent-spec"),
    pytest.param(run(agent_version=1), "/agent_version", id="agent-version-without-agent"),
    pytest.param(
        {"json": {"agent": "echo", "agent_version": 0, "input": "hi"}},
        "/agent_version",
        id="agent-version-zero",
    ),
    pytest.param(
        {"json": {"agent": "echo", "agent_version": "one", "input": "hi"}},
        "/agent_version",
        id="agent-version-a-word",
    ),
    pytest.param(
        {"json": {"agent": "echo", "agent_version": 2**31, "input": "hi"}},
        "/agent_version",
        id="agent-version-beyond-32-bits",
    ),
    pytest.param({"json": {"agent": "", "input": "hi"}}, "/agent", id="agent-empty"),
    pytest.param(run(agent_spec={}), "/agent_spec/model", id="model-missing"),
    pytest.param(spec(model=""), "/agent_spec/model", id="model-empty"),
    pytest.param(spec(model=7), "/agent_spec/model", id="model-a-number"),
    pytest.param(run(agent_spec="test"), "/agent_spec", id="agent-spec-a-string"),
    pytest.param(spec(instructions=None), "/agent_spec/instructions", id="instructions-null"),
    pytest.param(
        spec(tools=[{"type": "weird", "name": "x"}]),
        "/agent_spec/tools/0/type",
        id="tool-type-unknown",
    ),
    pytest.param(spec(tools=[{"name": "x"}]), "/agent_spec/tools/0/type", id="tool-type-missing"),
    pytest.param(spec(tools=["bash"]), "/agent_spec/tools/0", id="tool-not-an-object"),
    pytest.param(spec(tools={"type": "client"}), "/agent_spec/tools", id="tools-not-a-list"),
    pytest.param(
        spec(tools=[{"type": "client", "name": "bad name"}]),
        "/agent_spec/tools/0/name",
        id="tool-name-with-a-space",
    ),
    pytest.param(
        spec(tools=[{"type": "client", "name": "t" * 65}]),
        "/agent_spec/tools/0/name",
        id="tool-name-too-long",
    ),
    pytest.param(
        spec(tools=[{"type": "client"}]), "/agent_spec/tools/0/name", id="tool-name-missing"
    ),
    pytest.param(
        run(tools=[{"type": "client", "name": "a.b"}]),
        "/tools/0/name",
        id="run-tool-name-with-a-dot",
    ),
    pytest.param(
        spec(tools=[{"type": "client", "name": "t"}, {"type": "client", "name": "t"}]),
        "/agent_spec/tools/1/name",
        id="tool-name-twice-in-the-agent",
    ),
    pytest.param(
        run(tools=[{"type": "client", "name": "t"}, {"type": "client", "name": "t"}]),
        "/tools/1/name",
        id="tool-name-twice-in-the-run",
    ),
    pytest.param(
        run(agent_spec={**SPEC, "tools": [WEATHER]}, tools=[WEATHER]),
        "/tools/0/name",
        id="tool-name-in-both-agent-and-run",
    ),
    pytest.param(
        run(tools=[{**WEATHER, "parameters": {"type": "string"}}]),
        "/tools/0/parameters",
        id="client-tool-parameters-not-an-object-schema",
    ),
    pytest.param(
        spec(tools=[{**WEATHER, "parameters": {"type": "array"}}]),
        "/agent_spec/tools/0/parameters",
        id="agent-client-tool-parameters-not-an-object-schema",
    ),
    pytest.param(
        run(tools=[{**WEATHER, "parameters": []}]),
        "/tools/0/parameters",
        id="client-tool-parameters-a-list",
    ),
    pytest.param(
        run(tools=[{**WEATHER, "timeout_s": 0}]),
        "/tools/0/timeout_s",
        id="client-tool-timeout-zero",
    ),
    pytest.param(
        run(tools=[{**WEATHER, "bogus": 1}]), "/tools/0/bogus", id="client-tool-unknown-field"
    ),
    pytest.param(
        run(tools=[{"type": "builtin", "name": "nope"}]), "/tools/0/name", id="builtin-tool-unknown"
    ),
    pytest.param(
        spec(tools=[{"type": "builtin", "name": "nope"}]),
        "/agent_spec/tools/0/name",
        id="agent-builtin-tool-unknown",
    ),
    pytest.param(
        spec(limits={"max_turns": 0}), "/agent_spec/limits/max_turns", id="max-turns-zero"
    ),
    pytest.param(
        spec(limits={"max_turns": 1001}), "/agent_spec/limits/max_turns", id="max-turns-too-many"
    ),
    pytest.param(
        spec(limits={"max_turns": "many"}), "/agent_spec/limits/max_turns", id="max-turns-a-word"
    ),
    pytest.param(
        spec(limits={"max_turns": 1.5}), "/agent_spec/limits/max_turns", id="max-turns-fractional"
    ),
    pytest.param(
        spec(limits={"max_tool_calls_per_turn": -3}),
        "/agent_spec/limits/max_tool_calls_per_turn",
        id="max-tool-calls-negative",
    ),
    pytest.param(
        spec(limits={"max_output_tokens": 0}),
        "/agent_spec/limits/max_output_tokens",
        id="max-output-tokens-zero",
    ),
    pytest.param(
        spec(limits={"timeout_s": -1}), "/agent_spec/limits/timeout_s", id="timeout-negative"
    ),
    pytest.param(spec(limits={"timeout_s": 0}), "/agent_spec/limits/timeout_s", id="timeout-zero"),
    pytest.param(
        spec(limits={"timeout_s": "soon"}), "/agent_spec/limits/timeout_s", id="timeout-a-word"
    ),
    pytest.param(
        spec(limits={"timeout_s": 8 * 86_400}),
        "/agent_spec/limits/timeout_s",
        id="timeout-over-a-week",
    ),
    pytest.param(spec(limits={"retries": 3}), "/agent_spec/limits/retries", id="limit-unknown"),
    pytest.param(spec(limits=[1]), "/agent_spec/limits", id="limits-a-list"),
    pytest.param(run(metadata={**SIXTEEN_TAGS, "k16": "v"}), "/metadata", id="metadata-17-entries"),
    pytest.param(
        run(metadata={"bad key": "v"}), "/metadata/bad key", id="metadata-key-with-a-space"
    ),
    pytest.param(run(metadata={"a/b": "v"}), "/metadata/a~1b", id="metadata-key-with-a-slash"),
    pytest.param(run(metadata={"": "v"}), "/metadata/", id="metadata-key-empty"),
    pytest.param(
        run(metadata={"k" * 65: "v"}), "/metadata/" + "k" * 65, id="metadata-key-65-chars"
    ),
    pytest.param(run(metadata={"k": "v" * 257}), "/metadata/k", id="metadata-value-257-chars"),
    pytest.param(
        run(metadata={f"k{i:02}": "v" * 256 for i in range(16)}),
        "/metadata",
        id="metadata-over-4-kb",
    ),
    pytest.param(run(metadata={"k": 1}), "/metadata/k", id="metadata-value-a-number"),
    pytest.param(run(metadata={"k": None}), "/metadata/k", id="metadata-value-null"),
    pytest.param(
        run(metadata={"k": {"nested": "v"}}), "/metadata/k", id="metadata-value-an-object"
    ),
    pytest.param(run(metadata=["k"]), "/metadata", id="metadata-a-list"),
    pytest.param(
        spec(metadata={**SIXTEEN_TAGS, "k16": "v"}),
        "/agent_spec/metadata",
        id="agent-metadata-17-entries",
    ),
    pytest.param(
        run(agent_spec={**SPEC, "metadata": TEN_TAGS}, metadata=SEVEN_TAGS),
        "/metadata",
        id="agent-and-run-metadata-merge-to-17",
    ),
    pytest.param(
        {"json": {"agent": "tagged", "input": "hi", "metadata": SEVEN_TAGS}},
        "/metadata",
        id="stored-agent-and-run-metadata-merge-to-17",
    ),
    pytest.param(
        run(idempotency_key="k" * 256), "/idempotency_key", id="idempotency-key-256-chars"
    ),
    pytest.param(run(idempotency_key=""), "/idempotency_key", id="idempotency-key-empty"),
    pytest.param(
        {**run(), "headers": {"Idempotency-Key": "k" * 256}},
        "idempotency-key",
        id="idempotency-key-header-256-chars",
    ),
]


@on_the_shared_app
@pytest.mark.parametrize(("request_args", "field"), RUN_REJECTIONS)
async def test_a_malformed_run_is_rejected_naming_the_offending_field(shared, request_args, field):
    response = await shared.client.post("/v1/runs", **request_args)

    assert_rejected(response, 400, "invalid_request", field)


@on_the_shared_app
async def test_an_unknown_model_is_rejected_listing_the_models_like_it(shared):
    response = await shared.client.post(
        "/v1/runs", json={"agent_spec": {"model": "gpt-9"}, "input": "hi"}
    )

    body = assert_rejected(response, 400, "invalid_model", "/agent_spec/model")
    assert {"gpt-5", "gpt-4o"} <= set(body["candidates"])
    assert not [c for c in body["candidates"] if c.startswith("claude")]


@on_the_shared_app
async def test_a_model_pinned_to_an_unknown_provider_model_lists_that_providers_models(shared):
    response = await shared.client.post(
        "/v1/runs", json={"agent_spec": {"model": "anthropic/claude-9"}, "input": "hi"}
    )

    body = assert_rejected(response, 400, "invalid_model", "/agent_spec/model")
    assert "anthropic/claude-haiku-4-5" in body["candidates"]
    assert all(c.startswith("anthropic/") for c in body["candidates"])


@on_the_shared_app
async def test_a_model_without_a_provider_key_is_refused_at_submit(shared):
    response = await shared.client.post(
        "/v1/runs", json={"agent_spec": {"model": "claude-haiku-4-5"}, "input": "hi"}
    )

    body = assert_rejected(response, 400, "missing_provider_key", "/api_keys")
    assert "ANTHROPIC_API_KEY" in body["message"]


# -- input no database could hold alike ------------------------------------------------------

CLIENT_TOOL = (
    b'{"agent_spec": {"model": "test"}, "input": "hi", '
    b'"tools": [{"type": "client", "name": "t", "parameters": '
)
"""The start of a run body, up to the `parameters` of its client tool."""
UNSTORABLE = [
    pytest.param(
        b'{"agent_spec": {"model": "test"}, "input": "a\\u0000b"}', "/input", id="nul-in-input"
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test"}, "input": "a\\ud800b"}',
        "/input",
        id="lone-surrogate-in-input",
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test"}, "input": [{"role": "user", "content": "\\u0000"}]}',
        "/input/0/content",
        id="nul-in-a-message",
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test", "instructions": "\\u0000"}, "input": "hi"}',
        "/agent_spec/instructions",
        id="nul-in-instructions",
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test"}, "input": "hi", "metadata": {"k": "\\u0000"}}',
        "/metadata/k",
        id="nul-in-metadata",
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test"}, "input": "hi", "idempotency_key": "\\u0000"}',
        "/idempotency_key",
        id="nul-in-idempotency-key",
    ),
    pytest.param(b'{"agent": "a\\u0000", "input": "hi"}', "/agent", id="nul-in-agent"),
    pytest.param(
        CLIENT_TOOL + b'{"type": "object", "default": 100000000000000000000000000000}}]}',
        "/tools/0/parameters/default",
        id="integer-beyond-64-bits",
    ),
    pytest.param(
        CLIENT_TOOL + b'{"type": "object", "\\u0000": {}}}]}',
        "/tools/0/parameters/\x00",
        id="nul-in-a-key",
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test", "limits": {"timeout_s": NaN}}, "input": "hi"}',
        "/agent_spec/limits/timeout_s",
        id="nan",
    ),
    pytest.param(
        b'{"agent_spec": {"model": "test", "limits": {"timeout_s": Infinity}}, "input": "hi"}',
        "/agent_spec/limits/timeout_s",
        id="infinity",
    ),
    pytest.param(
        CLIENT_TOOL + b'{"type": "object", "x": ' * 70 + b"{}" + b"}" * 70 + b"}]}",
        "/tools/0/parameters" + "/x" * 61,
        id="nested-70-levels",
    ),
]


@on_the_shared_app
@pytest.mark.parametrize(("content", "field"), UNSTORABLE)
async def test_text_and_numbers_some_database_cannot_store_are_rejected_on_every_backend(
    shared, content, field
):
    response = await shared.client.post("/v1/runs", content=content, headers=JSON)

    assert_rejected(response, 400, "invalid_request", field)


@on_the_shared_app
@pytest.mark.parametrize(
    ("path", "status", "code", "field"),
    [
        pytest.param("/v1/runs/run_%00", 404, "not_found", None, id="run-id"),
        pytest.param("/v1/agents/echo%00", 404, "not_found", None, id="agent-name"),
        pytest.param("/v1/sessions/ses_%00/stream", 404, "not_found", None, id="session-id"),
        pytest.param("/v1/runs?agent=a%00", 400, "invalid_request", "agent", id="query-agent"),
        pytest.param("/v1/runs?cursor=%00", 400, "invalid_request", "cursor", id="query-cursor"),
        pytest.param(
            "/v1/runs?metadata=k:%00", 400, "invalid_request", "metadata", id="query-metadata"
        ),
        pytest.param("/v1/agents?cursor=%00", 400, "invalid_request", "cursor", id="agents-cursor"),
    ],
)
async def test_a_nul_character_in_the_url_is_refused_on_every_backend(
    shared, path, status, code, field
):
    response = await shared.client.get(path)

    assert_rejected(response, status, code, field)


# -- query parameters ------------------------------------------------------------------------


@on_the_shared_app
@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        pytest.param("/v1/runs", {"status": "bogus"}, "status", id="runs-status-unknown"),
        pytest.param("/v1/runs", {"status": "COMPLETED"}, "status", id="runs-status-upper-case"),
        pytest.param("/v1/runs", {"limit": 0}, "limit", id="runs-limit-zero"),
        pytest.param("/v1/runs", {"limit": 101}, "limit", id="runs-limit-101"),
        pytest.param("/v1/runs", {"limit": 1001}, "limit", id="runs-limit-1001"),
        pytest.param("/v1/runs", {"limit": "abc"}, "limit", id="runs-limit-a-word"),
        pytest.param("/v1/runs", {"limit": 2**70}, "limit", id="runs-limit-huge"),
        pytest.param(
            "/v1/runs", {"metadata": "nocolon"}, "metadata", id="runs-metadata-without-colon"
        ),
        pytest.param("/v1/runs", {"metadata": ":v"}, "metadata", id="runs-metadata-without-key"),
        pytest.param(
            "/v1/runs", {"metadata": ["a:b", "c"]}, "metadata", id="runs-second-metadata-filter-bad"
        ),
        pytest.param("/v1/agents", {"limit": 0}, "limit", id="agents-limit-zero"),
        pytest.param("/v1/agents", {"limit": "x"}, "limit", id="agents-limit-a-word"),
        pytest.param("/v1/sessions", {"limit": 101}, "limit", id="sessions-limit-101"),
        pytest.param("/v1/runs/run_x/events", {"after": -1}, "after", id="events-after-negative"),
        pytest.param(
            "/v1/runs/run_x/events", {"after": 2**31}, "after", id="events-after-beyond-32-bits"
        ),
        pytest.param("/v1/runs/run_x/events", {"limit": 0}, "limit", id="events-limit-zero"),
        pytest.param("/v1/runs/run_x/events", {"limit": 1001}, "limit", id="events-limit-1001"),
        pytest.param("/v1/runs/run_x/events", {"limit": "abc"}, "limit", id="events-limit-a-word"),
        pytest.param(
            "/v1/runs/run_x/wait", {"timeout_s": -1}, "timeout_s", id="wait-timeout-negative"
        ),
        pytest.param(
            "/v1/runs/run_x/wait", {"timeout_s": 301}, "timeout_s", id="wait-timeout-over-300"
        ),
        pytest.param(
            "/v1/runs/run_x/wait", {"timeout_s": "later"}, "timeout_s", id="wait-timeout-a-word"
        ),
        pytest.param("/v1/runs/run_x/stream", {"after": -1}, "after", id="stream-after-negative"),
        pytest.param("/v1/runs/run_x/stream", {"after": "x"}, "after", id="stream-after-a-word"),
        pytest.param(
            "/v1/sessions/ses_x/stream",
            {"after": 2**31},
            "after",
            id="session-stream-after-beyond-32-bits",
        ),
    ],
)
async def test_a_bad_query_parameter_is_rejected_by_name(shared, path, params, field):
    response = await shared.client.get(path, params=params)

    assert_rejected(response, 400, "invalid_request", field)


@on_the_shared_app
@pytest.mark.parametrize(
    "last_event_id",
    [
        pytest.param("abc", id="a-word"),
        pytest.param("-5", id="negative"),
        pytest.param(str(2**64), id="huge"),
    ],
)
async def test_a_bad_last_event_id_is_rejected_by_name(shared, last_event_id):
    response = await shared.client.get(
        f"/v1/runs/{shared.ended_run}/stream", headers={"Last-Event-ID": last_event_id}
    )

    assert_rejected(response, 400, "invalid_request", "Last-Event-ID")


# -- unknown ids and states --------------------------------------------------------------------

RESULT = {"call_id": "call_x", "output": "sunny"}


@on_the_shared_app
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/v1/runs/run_nope", None, id="get"),
        pytest.param("POST", "/v1/runs/run_nope/cancel", None, id="cancel"),
        pytest.param("DELETE", "/v1/runs/run_nope", None, id="delete"),
        pytest.param("GET", "/v1/runs/run_nope/events", None, id="events"),
        pytest.param("GET", "/v1/runs/run_nope/stream", None, id="stream"),
        pytest.param("GET", "/v1/runs/run_nope/wait?timeout_s=0", None, id="wait"),
        pytest.param("POST", "/v1/runs/run_nope/tool-results", RESULT, id="tool-results"),
        pytest.param("GET", "/v1/runs/agt_nope", None, id="an-id-of-another-kind"),
    ],
)
async def test_an_unknown_run_is_not_found(shared, method, path, body):
    response = await shared.client.request(method, path, json=body)

    assert_rejected(response, 404, "not_found")


@on_the_shared_app
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"call_id": "call_x"}, "/output", id="neither-output-nor-error"),
        pytest.param(
            {"call_id": "call_x", "output": "a", "error": "b"}, "/error", id="both-output-and-error"
        ),
        pytest.param({"output": "sunny"}, "/call_id", id="call-id-missing"),
        pytest.param({"call_id": "", "output": "sunny"}, "/call_id", id="call-id-empty"),
        pytest.param(
            {"call_id": "call_x", "output": {"temp": 21}}, "/output", id="output-not-a-string"
        ),
        pytest.param({"call_id": "call_x", "output": None}, "/output", id="output-null"),
        pytest.param({**RESULT, "bogus": 1}, "/bogus", id="unknown-field"),
    ],
)
async def test_a_malformed_tool_result_is_rejected_naming_the_field(shared, body, field):
    response = await shared.client.post(f"/v1/runs/{shared.waiting_run}/tool-results", json=body)

    assert_rejected(response, 400, "invalid_request", field)


@on_the_shared_app
async def test_a_tool_result_for_an_unknown_call_is_rejected(shared):
    response = await shared.client.post(f"/v1/runs/{shared.waiting_run}/tool-results", json=RESULT)

    assert_rejected(response, 404, "unknown_tool_call", "/call_id")


@on_the_shared_app
async def test_a_tool_result_for_an_ended_run_is_rejected_as_terminal(shared):
    response = await shared.client.post(f"/v1/runs/{shared.ended_run}/tool-results", json=RESULT)

    assert_rejected(response, 409, "run_terminal")


@on_the_shared_app
async def test_deleting_an_active_run_is_rejected_until_it_ends(shared):
    response = await shared.client.delete(f"/v1/runs/{shared.waiting_run}")

    assert_rejected(response, 409, "run_active")


# -- agents ----------------------------------------------------------------------------------


def agent(**fields: Any) -> dict[str, Any]:
    return {"name": "fresh", **SPEC, **fields}


@on_the_shared_app
@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        pytest.param(
            agent(name="bad name"), 400, "invalid_request", "/name", id="name-with-a-space"
        ),
        pytest.param(agent(name=""), 400, "invalid_request", "/name", id="name-empty"),
        pytest.param(
            agent(name="-dash"), 400, "invalid_request", "/name", id="name-starting-with-a-dash"
        ),
        pytest.param(agent(name="n" * 65), 400, "invalid_request", "/name", id="name-65-chars"),
        pytest.param(
            agent(name="agt_mine"), 400, "invalid_request", "/name", id="name-with-the-id-prefix"
        ),
        pytest.param(agent(name=7), 400, "invalid_request", "/name", id="name-a-number"),
        pytest.param({"model": "test"}, 400, "invalid_request", "/name", id="name-missing"),
        pytest.param({"name": "fresh"}, 400, "invalid_request", "/model", id="model-missing"),
        pytest.param(agent(model="gpt-9"), 400, "invalid_model", "/model", id="model-unknown"),
        pytest.param(
            agent(description="d" * 2001),
            400,
            "invalid_request",
            "/description",
            id="description-too-long",
        ),
        pytest.param(agent(version=2), 400, "invalid_request", "/version", id="unknown-field"),
        pytest.param(
            agent(tools=[WEATHER, {**WEATHER, "description": "again"}]),
            400,
            "invalid_request",
            "/tools/1/name",
            id="tool-name-twice",
        ),
        pytest.param(
            agent(tools=[{"type": "builtin", "name": "nope"}]),
            400,
            "invalid_request",
            "/tools/0/name",
            id="builtin-tool-unknown",
        ),
        pytest.param(
            agent(limits={"max_turns": 0}),
            400,
            "invalid_request",
            "/limits/max_turns",
            id="max-turns-zero",
        ),
        pytest.param(
            agent(metadata={"bad key": "v"}),
            400,
            "invalid_request",
            "/metadata/bad key",
            id="metadata-key-bad",
        ),
        pytest.param(agent(name="echo"), 409, "conflict", "/name", id="name-taken"),
    ],
)
async def test_a_malformed_agent_is_rejected_naming_the_field(shared, body, status, code, field):
    response = await shared.client.post("/v1/agents", json=body)

    assert_rejected(response, status, code, field)


@on_the_shared_app
@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        pytest.param({"bogus": 1}, 400, "invalid_request", "/bogus", id="unknown-field"),
        pytest.param({"name": "renamed"}, 400, "invalid_request", "/name", id="rename"),
        pytest.param({"model": "gpt-9"}, 400, "invalid_model", "/model", id="model-unknown"),
        pytest.param(
            {"limits": {"timeout_s": -1}},
            400,
            "invalid_request",
            "/limits/timeout_s",
            id="timeout-negative",
        ),
        pytest.param(
            {"tools": [WEATHER, WEATHER]},
            400,
            "invalid_request",
            "/tools/1/name",
            id="tool-name-twice",
        ),
        pytest.param(
            {"metadata": {**SIXTEEN_TAGS, "k16": "v"}},
            400,
            "invalid_request",
            "/metadata",
            id="metadata-17-entries",
        ),
        pytest.param([{"model": "test"}], 400, "invalid_request", "/", id="body-an-array"),
    ],
)
async def test_a_malformed_agent_change_is_rejected_naming_the_field(
    shared, body, status, code, field
):
    response = await shared.client.patch("/v1/agents/echo", json=body)

    assert_rejected(response, status, code, field)


@on_the_shared_app
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("GET", "/v1/agents/nope", None, None, id="get"),
        pytest.param("PATCH", "/v1/agents/nope", {"description": "x"}, None, id="patch"),
        pytest.param("DELETE", "/v1/agents/nope", None, None, id="delete"),
        pytest.param("GET", "/v1/agents/nope/versions", None, None, id="versions"),
        pytest.param("GET", "/v1/agents/agt_nope", None, None, id="by-id"),
        pytest.param(
            "POST", "/v1/runs", {"agent": "nope", "input": "hi"}, "/agent", id="run-of-it"
        ),
        pytest.param(
            "POST",
            "/v1/runs",
            {"agent": "echo", "agent_version": 99, "input": "hi"},
            "/agent",
            id="run-of-a-missing-version",
        ),
        pytest.param("POST", "/v1/sessions", {"agent": "nope"}, "/agent", id="session-with-it"),
        pytest.param(
            "POST",
            "/v1/sessions",
            {"agent": "echo", "agent_version": 99},
            "/agent",
            id="session-with-a-missing-version",
        ),
    ],
)
async def test_an_unknown_agent_or_version_is_not_found(shared, method, path, body, field):
    response = await shared.client.request(method, path, json=body)

    assert_rejected(response, 404, "not_found", field)


# -- sessions --------------------------------------------------------------------------------


@on_the_shared_app
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "/agent", id="neither-agent-nor-agent-spec"),
        pytest.param(
            {"agent": "echo", "agent_spec": SPEC}, "/agent", id="both-agent-and-agent-spec"
        ),
        pytest.param(
            {"agent_spec": SPEC, "agent_version": 1},
            "/agent_version",
            id="agent-version-without-agent",
        ),
        pytest.param({"agent_spec": SPEC, "input": "hi"}, "/input", id="input-given-at-creation"),
        pytest.param(
            {"agent_spec": {**SPEC, "limits": {"max_turns": 0}}},
            "/agent_spec/limits/max_turns",
            id="max-turns-zero",
        ),
        pytest.param(
            {"agent_spec": SPEC, "metadata": {"k": 1}}, "/metadata/k", id="metadata-value-a-number"
        ),
    ],
)
async def test_a_malformed_session_is_rejected_naming_the_field(shared, body, field):
    response = await shared.client.post("/v1/sessions", json=body)

    assert_rejected(response, 400, "invalid_request", field)


@on_the_shared_app
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "/input", id="input-missing"),
        pytest.param({"input": ""}, "/input", id="input-empty"),
        pytest.param(
            {"input": [{"role": "robot", "content": "x"}]}, "/input/0/role", id="role-unknown"
        ),
        pytest.param({"input": "hi", "agent": "echo"}, "/agent", id="agent-given-per-message"),
        pytest.param(
            {"input": "hi", "tools": [WEATHER, WEATHER]}, "/tools/1/name", id="tool-name-twice"
        ),
        pytest.param(
            {"input": "hi", "metadata": SEVEN_TAGS},
            "/metadata",
            id="session-and-message-metadata-merge-to-17",
        ),
    ],
)
async def test_a_malformed_session_message_is_rejected_naming_the_field(shared, body, field):
    response = await shared.client.post(f"/v1/sessions/{shared.live_session}/messages", json=body)

    assert_rejected(response, 400, "invalid_request", field)


@on_the_shared_app
async def test_a_message_to_an_ended_session_is_rejected(shared):
    response = await shared.client.post(
        f"/v1/sessions/{shared.ended_session}/messages", json={"input": "hello?"}
    )

    assert_rejected(response, 409, "session_ended")


@on_the_shared_app
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/v1/sessions/ses_nope", None, id="get"),
        pytest.param("DELETE", "/v1/sessions/ses_nope", None, id="delete"),
        pytest.param("GET", "/v1/sessions/ses_nope/stream", None, id="stream"),
        pytest.param("POST", "/v1/sessions/ses_nope/messages", {"input": "hi"}, id="message"),
        pytest.param("POST", "/v1/runs", {"session": "ses_nope", "input": "hi"}, id="run-in-it"),
    ],
)
async def test_an_unknown_session_is_not_found(shared, method, path, body):
    response = await shared.client.request(method, path, json=body)

    assert_rejected(response, 404, "not_found")


# -- routing, authentication, request ids ----------------------------------------------------


@on_the_shared_app
@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        pytest.param("GET", "/v1/nope", 404, "not_found", id="unknown-route"),
        pytest.param("GET", "/v2/runs", 404, "not_found", id="unknown-version"),
        pytest.param("POST", "/v1/runs/run_x/pause", 404, "not_found", id="unknown-action"),
        pytest.param("PUT", "/v1/runs", 405, "method_not_allowed", id="put-runs"),
        pytest.param("DELETE", "/v1/agents", 405, "method_not_allowed", id="delete-agents"),
        pytest.param("PATCH", "/v1/runs/run_x", 405, "method_not_allowed", id="patch-a-run"),
        pytest.param("POST", "/v1/runs/run_x", 405, "method_not_allowed", id="post-to-a-run"),
        pytest.param("POST", "/healthz", 405, "method_not_allowed", id="post-healthz"),
    ],
)
async def test_unknown_routes_and_methods_get_error_bodies(shared, method, path, status, code):
    response = await shared.client.request(method, path)

    assert_rejected(response, status, code)


@on_the_shared_app
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"Authorization": "Bearer crl_wrong"}, id="wrong-bearer-key"),
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer-key"),
        pytest.param({"Authorization": f"Basic {ADMIN_KEY}"}, id="basic-scheme"),
        pytest.param({"Authorization": ADMIN_KEY}, id="no-scheme"),
        pytest.param({"X-API-Key": "crl_wrong"}, id="wrong-x-api-key"),
        pytest.param({"X-API-Key": ""}, id="empty-x-api-key"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/runs", id="list-runs"),
        pytest.param("POST", "/v1/runs", id="invalid-run"),
        pytest.param("GET", "/v1/runs/run_nope", id="unknown-run"),
        pytest.param("GET", "/v1/whoami", id="whoami"),
    ],
)
async def test_a_request_without_a_valid_key_is_unauthorized_before_anything_else(
    shared, headers, method, path
):
    async with api_client(shared.app, key=None) as anonymous:
        response = await anonymous.request(method, path, headers=headers, json={})

    assert_rejected(response, 401, "unauthorized")


@on_the_shared_app
@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        pytest.param("GET", "/v1/whoami", None, 200, id="whoami"),
        pytest.param("POST", "/v1/runs", {"agent_spec": SPEC, "input": "hi"}, 202, id="create-run"),
        pytest.param("GET", "/v1/runs/run_nope", None, 404, id="unknown-run"),
        pytest.param("POST", "/v1/runs", {"input": ""}, 400, id="invalid-run"),
    ],
)
async def test_the_x_api_key_header_works_like_a_bearer_token(shared, method, path, body, status):
    async with api_client(shared.app, key=None) as client:
        by_header = await client.request(method, path, json=body, headers={"X-API-Key": ADMIN_KEY})
    by_bearer = await shared.client.request(method, path, json=body)

    assert by_header.status_code == by_bearer.status_code == status
    if status >= 400:
        assert by_header.json()["error"] == by_bearer.json()["error"]
        assert by_header.json().get("field") == by_bearer.json().get("field")


@on_the_shared_app
async def test_an_error_body_carries_the_request_id_the_caller_sent(shared):
    response = await shared.client.get("/v1/runs/run_nope", headers={"X-Request-Id": "req_mine"})

    body = assert_rejected(response, 404, "not_found")
    assert body["request_id"] == "req_mine"


# -- the body size limit -----------------------------------------------------------------------


async def chunks(body: bytes, size: int = 500) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda body: {"content": body}, id="with-content-length"),
        pytest.param(lambda body: {"content": chunks(body)}, id="chunked"),
    ],
)
async def test_a_body_over_the_size_limit_is_rejected_as_too_large(
    make_settings: Callable[..., Settings], send: Callable[[bytes], dict[str, Any]]
) -> None:
    body = b'{"agent_spec": {"model": "test"}, "input": "' + b"x" * 3000 + b'"}'

    async with running_app(make_settings(max_body_bytes=2048)) as app, api_client(app) as client:
        response = await client.post("/v1/runs", headers=JSON, **send(body))
        just_fits = await client.post("/v1/runs", json={"agent_spec": SPEC, "input": "x" * 1900})

    assert_rejected(response, 413, "payload_too_large")
    assert just_fits.status_code == 202, just_fits.text
