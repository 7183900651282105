from __future__ import annotations

import pytest

from corral.client import NotFoundError
from corral.types.agents import Agent, AgentSpendLimits, AgentVersion, Limits
from tests.client.conftest import drain


async def test_an_agent_is_created_retrieved_by_id_or_name_and_typed(sdk):
    created = await sdk.agents.create(
        name="helper",
        model="test",
        description="Helps",
        instructions="Be brief.",
        limits={"max_turns": 3},
        metadata={"team": "docs"},
    )
    by_id = await sdk.agents.retrieve(created.id)
    by_name = await sdk.agents.retrieve("helper")

    assert isinstance(created, Agent)
    assert created.id.startswith("agt_")
    assert (created.name, created.version, created.model) == ("helper", 1, "test")
    assert created.limits == Limits(max_turns=3)
    assert created.metadata == {"team": "docs"}
    assert by_id == by_name == created


async def test_an_update_makes_a_new_version_and_versions_lists_them_newest_first(sdk):
    agent = await sdk.agents.create(name="versioned", model="test")

    updated = await sdk.agents.update("versioned", instructions="Answer in French.")
    same = await sdk.agents.update(agent.id, instructions="Answer in French.")
    versions = await sdk.agents.versions(agent.id)

    assert (updated.version, updated.instructions) == (2, "Answer in French.")
    assert same.version == 2
    assert all(isinstance(v, AgentVersion) for v in versions)
    assert [(v.version, v.instructions) for v in versions] == [(2, "Answer in French."), (1, "")]


async def test_a_deleted_agent_is_not_found(sdk):
    agent = await sdk.agents.create(name="doomed", model="test")

    assert await sdk.agents.delete(agent.id) is None
    with pytest.raises(NotFoundError):
        await sdk.agents.retrieve(agent.id)


async def test_listing_agents_walks_every_page(sdk):
    created = [(await sdk.agents.create(name=f"agent-{i}", model="test")).id for i in range(5)]

    first = await sdk.agents.list(limit=2)
    every = await drain(first)
    pages = await drain(first.iter_pages())

    assert len(first.data) == 2 and first.next_cursor is not None
    assert [a.id for a in every] == created[::-1]
    assert all(isinstance(a, Agent) for a in every)
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert pages[-1].next_cursor is None


async def test_an_agents_spend_limits_are_set_and_changed_with_a_new_version(sdk):
    priced = "claude-haiku-4-5"
    agent = await sdk.agents.create(name="frugal", model=priced, spend_limits={"per_day_usd": 2})
    updated = await sdk.agents.update("frugal", spend_limits={"per_month_usd": 30.0})

    assert agent.spend_limits == AgentSpendLimits(per_day_usd=2.0)
    assert (updated.version, updated.spend_limits) == (2, AgentSpendLimits(per_month_usd=30.0))
