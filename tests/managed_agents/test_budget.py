"""A session's budget: Corral's session spend cap, reached mid-turn."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.conftest import LiveServer
from tests.managed_agents.conftest import sdk_clients
from tests.managed_agents.test_turns import until_idle

pytestmark = pytest.mark.timeout(60)

LOOKUP = {
    "type": "custom",
    "name": "lookup",
    "description": "Look a word up.",
    "input_schema": {"type": "object", "properties": {}},
}


@pytest.fixture
async def priced(make_settings, priced_catalog) -> AsyncIterator[AsyncAnthropic]:
    """An SDK client of a server whose test model costs $10 per million output tokens."""
    async with LiveServer(make_settings(model_catalog=priced_catalog)) as server:
        sync, client = sdk_clients(server)
        sync.close()
        async with client:
            yield client


async def test_a_turn_past_the_budget_idles_with_budget_reached(priced):
    env = await priced.beta.environments.create(name="dev", config={"type": "cloud"})
    agent = await priced.beta.agents.create(name="spender", model="test", tools=[LOOKUP])
    session = await priced.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        budget={"type": "limit", "max_list_cost": {"amount": "0.5", "currency": "USD"}},
    )
    assert session.budget.max_list_cost.amount == "0.5"

    stream = await priced.beta.sessions.events.stream(session.id)
    # $0.60 in a turn that calls a tool: past the cap, so the turn stops before the call.
    await priced.beta.sessions.events.send(
        session.id,
        events=[
            {
                "type": "user.message",
                "content": [{"type": "text", "text": "[[tokens 10 60000]] [[call lookup {}]]"}],
            }
        ],
    )
    seen = await until_idle(stream)

    assert seen[-1].stop_reason.type == "budget_reached"
    assert "agent.custom_tool_use" not in [e.type for e in seen]
    spent = await priced.beta.sessions.retrieve(session.id)
    assert float(spent.usage.list_cost.amount) == pytest.approx(0.6)
    with pytest.raises(anthropic.APIStatusError) as raised:
        await priced.beta.sessions.events.send(
            session.id,
            events=[{"type": "user.message", "content": [{"type": "text", "text": "more"}]}],
        )
    assert raised.value.status_code == 402
    assert raised.value.body["error"]["type"] == "billing_error"
