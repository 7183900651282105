"""Refusals raise the SDK's own exception types, with the API's error envelope."""

from __future__ import annotations

import anthropic
import pytest

from tests.managed_agents.conftest import sdk_clients
from tests.managed_agents.test_turns import make_session

pytestmark = pytest.mark.timeout(60)


async def test_a_wrong_key_raises_authentication_error(live_server):
    sync, client = sdk_clients(live_server, key="crl_not_a_key_of_this_server_000000000000000")
    sync.close()

    async with client:
        with pytest.raises(anthropic.AuthenticationError) as raised:
            await client.beta.agents.list()

    assert raised.value.status_code == 401
    assert raised.value.body["error"]["type"] == "authentication_error"


async def test_a_missing_session_raises_not_found(client):
    with pytest.raises(anthropic.NotFoundError) as raised:
        await client.beta.sessions.retrieve("ses_nope")

    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "not_found_error"
    assert "ses_nope" in raised.value.body["error"]["message"]


async def test_a_bad_body_raises_bad_request_naming_the_field(client):
    with pytest.raises(anthropic.BadRequestError) as raised:
        await client.beta.agents.create(name="x", model="test", tools=[{"type": "nope"}])

    assert raised.value.body["error"]["type"] == "invalid_request_error"
    assert "/tools/0" in raised.value.body["error"]["message"]


async def test_an_unknown_model_is_refused_with_candidates(client):
    with pytest.raises(anthropic.BadRequestError) as raised:
        await client.beta.agents.create(name="x", model="no-such-model")

    assert "/model" in raised.value.body["error"]["message"]


async def test_a_conflict_is_not_retried(client):
    _, agent_id = await make_session(client)
    agent = await client.beta.agents.retrieve(agent_id)

    with pytest.raises(anthropic.ConflictError) as raised:
        await client.beta.agents.update(agent_id, version=agent.version + 1, system="new")

    assert raised.value.response.headers["x-should-retry"] == "false"


async def test_unmapped_parts_answer_a_clear_not_found(client):
    with pytest.raises(anthropic.NotFoundError) as raised:
        await client.beta.memory_stores.list()

    assert "memory_stores are not available" in raised.value.body["error"]["message"]


async def test_a_served_path_with_another_method_answers_405_with_allow(client):
    with pytest.raises(anthropic.APIStatusError) as raised:
        await client.put("/v1/agents", cast_to=object, body={})

    assert raised.value.status_code == 405
    assert raised.value.response.headers["allow"] == "GET, POST"
    assert raised.value.body["error"]["code"] == "method_not_allowed"
