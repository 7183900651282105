"""Vaults and credentials through the SDK: kept as Corral vaults, values only in the secrets vault.

A session given a vault gets its credentials on every turn: a bearer token on the MCP server at
the credential's URL, a variable in the sandbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import pytest
import sqlalchemy as sa
from anthropic import AsyncAnthropic

from corral.sandbox.capabilities import probe
from tests.conftest import LiveServer
from tests.managed_agents.conftest import sdk_clients
from tests.managed_agents.test_turns import until_idle
from tests.tools.test_mcp import TOKEN, http_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(90)

SECRET = "tok-7f3a9c1e-never-shown"
UNRESTRICTED = {"type": "cloud", "networking": {"type": "unrestricted"}}


def shown(*objects: Any) -> str:
    """Everything the SDK parsed from some answers, extra fields included."""
    return json.dumps([o.model_dump(mode="json") for o in objects])


async def stored(server: LiveServer) -> str:
    """Every row of the tables a credential or a run could leave a value in, as text."""

    def read(conn: Any) -> str:
        rows = []
        tables = ("vaults", "vault_credentials", "secrets", "secret_versions", "sessions", "runs")
        for table in (*tables, "run_events"):
            rows += [str(tuple(r)) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
        return "\n".join(rows)

    return str(await server.app.state.ctx.database.read(read))


async def say(client: AsyncAnthropic, session_id: str, text: str) -> list[Any]:
    """Send a user message and wait for the turn to end: the events it streamed."""
    stream = await client.beta.sessions.events.stream(session_id)
    await client.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
    )
    return await until_idle(stream)


async def test_a_vault_is_created_read_changed_listed_archived_and_deleted(client):
    made = await client.beta.vaults.create(display_name="Alice", metadata={"user": "usr_1"})
    other = await client.beta.vaults.create(display_name="Bob")

    renamed = await client.beta.vaults.update(
        made.id, display_name="Alice A.", metadata={"user": None, "team": "blue"}
    )
    fetched = await client.beta.vaults.retrieve(made.id)
    first = await client.beta.vaults.list(limit=1)
    every = [v.id async for v in client.beta.vaults.list(limit=1)]
    archived = await client.beta.vaults.archive(other.id)
    listed = [v.id async for v in client.beta.vaults.list()]
    with_archived = [v.id async for v in client.beta.vaults.list(include_archived=True)]
    deleted = await client.beta.vaults.delete(made.id)

    assert made.type == "vault" and made.id.startswith("vlt_") and made.archived_at is None
    assert (renamed.display_name, renamed.metadata) == ("Alice A.", {"team": "blue"})
    assert fetched == renamed
    assert [v.id for v in first.data] == [other.id] and first.next_page
    assert every == [other.id, made.id]
    assert archived.archived_at is not None
    assert listed == [made.id] and with_archived == [other.id, made.id]
    assert (deleted.type, deleted.id) == ("vault_deleted", made.id)
    with pytest.raises(anthropic.NotFoundError):
        await client.beta.vaults.retrieve(made.id)
    with pytest.raises(anthropic.ConflictError):
        await client.beta.vaults.update(other.id, display_name="again")


async def test_credentials_of_each_kind_round_trip_and_never_show_their_secret(client, live_server):
    vault = await client.beta.vaults.create(display_name="Alice")
    credentials = client.beta.vaults.credentials
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    bearer = await credentials.create(
        vault.id,
        auth={"type": "static_bearer", "token": SECRET, "mcp_server_url": "https://mcp.example/m"},
        display_name="Example MCP",
        metadata={"k": "v"},
    )
    oauth = await credentials.create(
        vault.id,
        auth={
            "type": "mcp_oauth",
            "access_token": SECRET,
            "mcp_server_url": "https://other.example/mcp",
            "expires_at": expires_at,
        },
    )
    variable = await credentials.create(
        vault.id,
        auth={
            "type": "environment_variable",
            "secret_name": "API_TOKEN",
            "secret_value": SECRET,
            "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]},
            "injection_location": {"header": True, "body": False},
        },
    )
    updated = await credentials.update(
        bearer.id,
        vault_id=vault.id,
        auth={"type": "static_bearer", "token": SECRET + "-2"},
        metadata={"k": None},
    )
    rescoped = await credentials.update(
        variable.id,
        vault_id=vault.id,
        auth={"type": "environment_variable", "networking": {"type": "unrestricted"}},
    )
    fetched = await credentials.retrieve(oauth.id, vault_id=vault.id)
    listed = [c async for c in credentials.list(vault.id)]
    archived = await credentials.archive(oauth.id, vault_id=vault.id)
    active = [c.id async for c in credentials.list(vault.id)]
    deleted = await credentials.delete(variable.id, vault_id=vault.id)
    async with live_server.client() as corral:
        secrets = (await corral.get("/v1/secrets")).json()["data"]

    assert bearer.type == "vault_credential" and bearer.id.startswith("vcrd_")
    assert bearer.auth.type == "static_bearer"
    assert bearer.auth.mcp_server_url == "https://mcp.example/m"
    assert (bearer.display_name, bearer.metadata, updated.metadata) == (
        "Example MCP",
        {"k": "v"},
        {},
    )
    assert oauth.auth.type == "mcp_oauth" and oauth.auth.expires_at == expires_at
    assert variable.auth.type == "environment_variable"
    assert variable.auth.secret_name == "API_TOKEN"
    assert variable.auth.networking.allowed_hosts == ["api.example.com"]
    assert (variable.auth.injection_location.header, variable.auth.injection_location.body) == (
        True,
        False,
    )
    assert variable.metadata == {}
    assert rescoped.auth.networking.type == "unrestricted"
    assert rescoped.auth.injection_location.body is False
    assert fetched == oauth
    assert {c.id for c in listed} == {bearer.id, oauth.id, variable.id}
    assert archived.archived_at is not None and oauth.id not in active
    assert (deleted.type, deleted.id) == ("vault_credential_deleted", variable.id)
    # Each value is a workspace secret while its credential is in force, and is shown nowhere.
    assert {s["name"]: s["version"] for s in secrets} == {f"vault.{bearer.id}": 2}
    everything = shown(vault, bearer, oauth, variable, updated, rescoped, fetched, *listed)
    assert SECRET not in everything + json.dumps(secrets)
    assert SECRET not in await stored(live_server)


async def test_what_a_credential_cannot_be_is_refused_naming_the_field(client):
    vault = await client.beta.vaults.create(display_name="Alice")
    credentials = client.beta.vaults.credentials
    bearer = {"type": "static_bearer", "token": SECRET, "mcp_server_url": "https://m.example/"}
    made = await credentials.create(vault.id, auth=bearer)
    past = datetime.now(UTC) - timedelta(minutes=1)
    refresh = {
        "client_id": "c",
        "refresh_token": "r",
        "token_endpoint": "https://auth.example/token",
        "token_endpoint_auth": {"type": "none"},
    }
    oauth = {"type": "mcp_oauth", "access_token": SECRET, "mcp_server_url": "https://o.example"}

    attempts = {
        "/auth/mcp_server_url": lambda: credentials.create(
            vault.id, auth={**bearer, "mcp_server_url": "https://M.example"}
        ),
        "/auth/refresh": lambda: credentials.create(vault.id, auth={**oauth, "refresh": refresh}),
        "/auth/expires_at": lambda: credentials.create(
            vault.id, auth={**oauth, "expires_at": past}
        ),
        "/auth/type": lambda: credentials.update(
            made.id, vault_id=vault.id, auth={"type": "mcp_oauth", "access_token": "x"}
        ),
    }
    found = {}
    for field, attempt in attempts.items():
        with pytest.raises(anthropic.APIStatusError) as refused:
            await attempt()
        found[field] = (refused.value.status_code, refused.value.body["error"].get("field"))
    valid = await credentials.create(vault.id, auth=oauth)
    with pytest.raises(anthropic.BadRequestError) as validated:
        await credentials.mcp_oauth_validate(valid.id, vault_id=vault.id)
    await client.beta.vaults.archive(vault.id)
    with pytest.raises(anthropic.ConflictError):
        await credentials.create(vault.id, auth=bearer)
    archived = await credentials.retrieve(made.id, vault_id=vault.id)

    assert found == {
        "/auth/mcp_server_url": (409, "/auth/mcp_server_url"),
        "/auth/refresh": (400, "/auth/refresh"),
        "/auth/expires_at": (400, "/auth/expires_at"),
        "/auth/type": (400, "/auth/type"),
    }
    assert "not available" in validated.value.message
    assert archived.archived_at is not None


@pytest.fixture
async def trusting(make_settings: Any) -> AsyncIterator[tuple[LiveServer, AsyncAnthropic]]:
    """A server whose runs may reach the MCP test server on 127.0.0.1, and its client."""
    async with LiveServer(make_settings(network_private_hosts=["127.0.0.1"])) as server:
        sync, client = sdk_clients(server)
        yield server, client
        sync.close()
        await client.close()


async def test_a_static_bearer_credential_reaches_the_mcp_server_as_its_authorization(
    trusting,
    http_server,  # noqa: F811 - the fixture
):
    server, client = trusting
    vault = await client.beta.vaults.create(display_name="Alice")
    await client.beta.vaults.credentials.create(
        vault.id,
        auth={"type": "static_bearer", "token": TOKEN, "mcp_server_url": http_server.url + "/"},
    )
    env = await client.beta.environments.create(name="dev", config=UNRESTRICTED)
    agent = await client.beta.agents.create(
        name="mcp-user",
        model="test",
        mcp_servers=[{"type": "url", "name": "remote", "url": http_server.url}],
        tools=[
            {
                "type": "mcp_toolset",
                "mcp_server_name": "remote",
                "default_config": {"permission_policy": {"type": "always_allow"}},
            }
        ],
    )
    session = await client.beta.sessions.create(
        agent=agent.id, environment_id=env.id, vault_ids=[vault.id]
    )

    seen = await say(client, session.id, '[[call remote__add {"a": 2, "b": 3}]]')

    # The test server answers 401 to any request without `Authorization: Bearer TOKEN`.
    use = next(e for e in seen if e.type == "agent.mcp_tool_use")
    result = next(e for e in seen if e.type == "agent.mcp_tool_result")
    assert (use.name, use.mcp_server_name) == ("add", "remote")
    assert not result.is_error and result.content[0].text == "5"
    assert session.vault_ids == [vault.id]
    assert (await client.beta.sessions.retrieve(session.id)).vault_ids == [vault.id]
    assert TOKEN not in await stored(server)


@pytest.mark.skipif(not probe().enforced, reason=f"no sandbox here: {probe().detail}")
async def test_an_environment_variable_credential_is_set_in_the_sandbox_it_cannot_leave(client):
    vault = await client.beta.vaults.create(display_name="Alice")
    await client.beta.vaults.credentials.create(
        vault.id,
        auth={
            "type": "environment_variable",
            "secret_name": "API_TOKEN",
            "secret_value": SECRET,
            "networking": {"type": "limited", "allowed_hosts": ["*.example.com"]},
        },
    )
    limited = {"type": "limited", "allowed_hosts": ["api.example.com"]}
    contained = await client.beta.environments.create(
        name="contained", config={"type": "cloud", "networking": limited}
    )
    open_env = await client.beta.environments.create(name="open", config=UNRESTRICTED)
    agent = await client.beta.agents.create(
        name="shell-user",
        model="test",
        tools=[
            {
                "type": "agent_toolset_20260401",
                "default_config": {"enabled": False},
                "configs": [
                    {
                        "type": "bash",
                        "enabled": True,
                        "permission_policy": {"type": "always_allow"},
                    }
                ],
            }
        ],
    )

    with pytest.raises(anthropic.BadRequestError) as refused:
        await client.beta.sessions.create(
            agent=agent.id, environment_id=open_env.id, vault_ids=[vault.id]
        )
    session = await client.beta.sessions.create(
        agent=agent.id, environment_id=contained.id, vault_ids=[vault.id]
    )
    command = f'test "$API_TOKEN" = {SECRET} && echo matched'
    seen = await say(client, session.id, f"[[call bash {json.dumps({'command': command})}]]")

    assert refused.value.body["error"]["field"] == "/vault_ids"
    assert "limit the environment's network" in refused.value.message
    result = next(e for e in seen if e.type == "agent.tool_result")
    assert "matched" in result.content[0].text


async def test_a_session_s_vaults_are_checked_and_can_be_replaced(client):
    env = await client.beta.environments.create(name="dev", config=UNRESTRICTED)
    agent = await client.beta.agents.create(name="helper", model="test")
    first = await client.beta.vaults.create(display_name="one")
    second = await client.beta.vaults.create(display_name="two")
    archived = await client.beta.vaults.create(display_name="gone")
    await client.beta.vaults.archive(archived.id)

    refusals = []
    for vault_ids in (["vlt_missing"], [archived.id], [first.id, first.id]):
        with pytest.raises(anthropic.APIStatusError) as refused:
            await client.beta.sessions.create(
                agent=agent.id, environment_id=env.id, vault_ids=vault_ids
            )
        refusals.append((refused.value.status_code, refused.value.body["error"]["field"]))
    session = await client.beta.sessions.create(
        agent=agent.id, environment_id=env.id, vault_ids=[first.id]
    )
    replaced = await client.beta.sessions.update(session.id, vault_ids=[second.id, first.id])
    seen = await say(client, session.id, "hello")

    assert refusals == [(404, "/vault_ids/0"), (409, "/vault_ids/0"), (400, "/vault_ids/1")]
    assert session.vault_ids == [first.id]
    assert replaced.vault_ids == [second.id, first.id]
    assert seen[-1].stop_reason.type == "end_turn"


async def test_the_sync_client_manages_a_vault_and_its_credential(clients):
    sync, _ = clients

    def program() -> tuple[Any, Any, Any]:
        vault = sync.beta.vaults.create(display_name="sync")
        credential = sync.beta.vaults.credentials.create(
            vault.id,
            auth={"type": "static_bearer", "token": SECRET, "mcp_server_url": "https://m.example"},
        )
        listed = sync.beta.vaults.credentials.list(vault.id)
        sync.beta.vaults.delete(vault.id)
        return vault, credential, listed

    vault, credential, listed = await asyncio.to_thread(program)

    assert [c.id for c in listed.data] == [credential.id]
    assert credential.vault_id == vault.id
    assert SECRET not in shown(vault, credential, *listed.data)
