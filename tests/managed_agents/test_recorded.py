"""The SDK against Corral running a real provider adapter, on recorded Anthropic traffic.

The provider is a replay of recorded Messages API streams on a local port
(`tests/providers/cassettes.py`); everything else is real: the SDK, the facade, the worker, the
adapter and the provider SDK over a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from anthropic import AsyncAnthropic

from corral.settings import Settings
from tests.conftest import LiveServer
from tests.managed_agents.conftest import sdk_clients
from tests.managed_agents.test_turns import until_idle
from tests.providers.cassettes import Cassette, replay

pytestmark = pytest.mark.timeout(60)

MODEL = "claude-haiku-4-5"


@asynccontextmanager
async def recorded(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, name: str
) -> AsyncIterator[tuple[Cassette, AsyncAnthropic]]:
    """The cassette replayed as Anthropic's API, and an SDK client of a server using it."""
    async with replay(name) as cassette:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", cassette.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-server-key")
        async with LiveServer(make_settings(provider_retry_base_s=0.01)) as server:
            sync, client = sdk_clients(server)
            sync.close()
            async with client:
                yield cassette, client


async def session_of(client: AsyncAnthropic, **agent: Any) -> str:
    env = await client.beta.environments.create(name="dev", config={"type": "cloud"})
    made = await client.beta.agents.create(name="recorded", model=MODEL, **agent)
    return (await client.beta.sessions.create(agent=made.id, environment_id=env.id)).id


async def say(client: AsyncAnthropic, session_id: str, text: str) -> None:
    await client.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
    )


async def test_a_recorded_turn_streams_its_text_and_usage(make_settings, monkeypatch):
    async with recorded(make_settings, monkeypatch, "anthropic/messages-stream-text") as (
        cassette,
        client,
    ):
        session_id = await session_of(client)
        stream = await client.beta.sessions.events.stream(
            session_id, event_deltas=["agent.message"]
        )
        await say(client, session_id, "Say just hello")
        seen = await until_idle(stream)
        session = await client.beta.sessions.retrieve(session_id)

    message = next(e for e in seen if e.type == "agent.message")
    pieces = [e.delta.content.text for e in seen if e.type == "event_delta"]
    end = next(e for e in seen if e.type == "span.model_request_end")
    assert message.content[0].text == "Hello" == "".join(pieces)
    assert end.model_usage.input_tokens == 10 and end.model_usage.output_tokens == 4
    assert session.usage.input_tokens == 10 and session.usage.output_tokens == 4
    assert len(cassette.sent) == 1
    assert cassette.sent[0].headers["Authorization"] == "Bearer sk-ant-server-key"
    assert seen[-1].stop_reason.type == "end_turn"


PELICAN = {
    "type": "custom",
    "name": "pelican_name_generator",
    "description": "",
    "input_schema": {"type": "object", "properties": {}},
}


async def test_recorded_parallel_custom_tool_calls_round_trip(make_settings, monkeypatch):
    async with recorded(
        make_settings, monkeypatch, "anthropic/messages-stream-tool-use-noargs-roundtrip"
    ) as (cassette, client):
        session_id = await session_of(client, tools=[PELICAN])
        stream = await client.beta.sessions.events.stream(session_id)
        await say(client, session_id, "Two names for a pet pelican")
        first = await until_idle(stream)
        calls = [e for e in first if e.type == "agent.custom_tool_use"]
        assert [c.name for c in calls] == ["pelican_name_generator"] * 2
        assert first[-1].stop_reason.type == "requires_action"
        assert first[-1].stop_reason.event_ids == [c.id for c in calls]
        await client.beta.sessions.events.send(
            session_id,
            events=[
                {
                    "type": "user.custom_tool_result",
                    "custom_tool_use_id": call.id,
                    "content": [{"type": "text", "text": name}],
                }
                for call, name in zip(calls, ("Charles", "Sammy"), strict=True)
            ],
        )
        rest = await until_idle(stream)

    answer = next(e for e in rest if e.type == "agent.message")
    assert "Charles" in answer.content[0].text and "Sammy" in answer.content[0].text
    assert rest[-1].stop_reason.type == "end_turn"
    second = cassette.sent[1].json()
    results = second["messages"][-1]["content"]
    assert [r["content"] for r in results] == ["Charles", "Sammy"]
