"""Subagents through the SDK: tool refs as models, the new events, and a run's tree.

The test model calls a tool named in a `[[call …]]` directive; the stored agent `helper` echoes
its task, so a parent that calls it answers `helper returned: <task>`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.client import (
    AgentToolRef,
    AnyEvent,
    SubagentCompleted,
    SubagentStarted,
    SubagentToolRef,
)
from corral.client.resources._common import spec_body, tool_ref
from corral.client.resources._run_lineage import tree_order
from corral.settings import Settings
from corral.types.common import Usage
from corral.types.runs import Run, RunStatus
from tests.client.conftest import Awaited, awaited_client, drain
from tests.conftest import ADMIN_KEY, BACKENDS, LiveServer

CALL_HELPER = '[[call helper {"task": "hi"}]]'
HELPER_TOOL = {"type": "agent", "agent": "helper"}
SPEC = {"model": "test", "tools": [HELPER_TOOL]}
"""A parent that may delegate to `helper`."""


async def store_helpers(sdk: Awaited) -> None:
    """`helper` echoes its task; `lead` hands its own task on to `helper`."""
    await sdk.agents.create(name="helper", model="test", description="Echoes its task.")
    await sdk.agents.create(
        name="lead",
        model="test",
        instructions='[[call helper {"task": "deeper"}]]',
        tools=[AgentToolRef(type="agent", agent="helper")],
    )


async def test_run_takes_an_agent_tool_ref_and_hands_the_subagent_events_to_on_event(sdk):
    await store_helpers(sdk)
    seen: list[AnyEvent] = []

    ended = await sdk.run(
        input=CALL_HELPER,
        model="test",
        tools=[AgentToolRef(type="agent", agent="helper")],
        on_event=seen.append,
    )

    [started] = [e for e in seen if isinstance(e, SubagentStarted)]
    [completed] = [e for e in seen if isinstance(e, SubagentCompleted)]
    [child] = await drain(await sdk.runs.children(ended.id))
    assert ended.output == "helper returned: hi"
    assert (ended.subagents, ended.depth, ended.parent_run) == (1, 0, None)
    assert ended.total_usage is not None
    assert ended.total_usage.input_tokens == (ended.usage.input_tokens + child.usage.input_tokens)
    assert (started.name, started.child_run_id, started.depth) == ("helper", child.id, 1)
    assert started.agent == child.agent
    assert (completed.child_run_id, completed.status, completed.output) == (
        child.id,
        RunStatus.COMPLETED,
        "hi",
    )
    assert (child.parent_run, child.root_run, child.depth, child.input) == (
        ended.id,
        ended.id,
        1,
        "hi",
    )


async def test_tool_refs_as_dicts_or_models_in_specs_agents_and_sessions(sdk):
    await store_helpers(sdk)
    models_spec = {"model": "test", "tools": [AgentToolRef(type="agent", agent="helper")]}

    as_dicts = await sdk.run(input=CALL_HELPER, agent_spec=SPEC)
    as_models = await sdk.run(input=CALL_HELPER, agent_spec=models_spec)
    stored = await sdk.agents.create(
        name="delegator", model="test", tools=[AgentToolRef(type="agent", agent="helper")]
    )
    of_stored = await sdk.run(input=CALL_HELPER, agent="delegator")
    session = await sdk.sessions.create(agent_spec=models_spec)
    in_session = await sdk.sessions.send(session.id, input=CALL_HELPER)

    assert stored.tools[0].type == "agent"
    for ended in (as_dicts, as_models, of_stored, in_session):
        assert (ended.status, ended.output) == (RunStatus.COMPLETED, "helper returned: hi")
        assert ended.subagents == 1


async def test_children_tree_and_the_lineage_filters_of_list(sdk):
    await store_helpers(sdk)
    spec = {"model": "test", "tools": [HELPER_TOOL, {"type": "agent", "agent": "lead"}]}
    root = await sdk.run(
        input=CALL_HELPER + '[[call lead {"task": "go"}]]', agent_spec=spec, metadata={"t": "x"}
    )

    children = await drain(await sdk.runs.children(root.id))
    [lead] = [c for c in children if c.input == "go"]
    below = await drain(await sdk.runs.list(root_run=root.id))
    of_lead = await drain(await sdk.runs.list(parent_run=lead.id))
    tree = await sdk.runs.tree(root.id)
    subtree = await sdk.runs.tree(lead.id)
    none_running = await drain(await sdk.runs.children(root.id, status="running"))

    assert root.output == "helper returned: hi\nlead returned: helper returned: deeper"
    assert sorted(c.input for c in children) == ["go", "hi"]
    assert {r.id for r in below} == {c.id for c in children} | {r.id for r in of_lead}
    [grandchild] = of_lead
    assert (grandchild.depth, grandchild.root_run, grandchild.input) == (2, root.id, "deeper")
    assert tree[0].id == root.id
    assert [r.depth for r in tree].count(1) == 2 and len(tree) == 4
    assert tree[tree.index(lead) + 1] == grandchild
    assert [r.id for r in subtree] == [lead.id, grandchild.id]
    assert none_running == []


async def test_an_ad_hoc_subagent_shows_in_the_tree_without_an_agent(sdk):
    spec = {"model": "test", "tools": [SubagentToolRef(type="subagent")]}
    root = await sdk.run(
        input='[[call subagent {"prompt": "hello", "tools": []}]]'
        '[[then subagent_result {"run_id": "$result.run_id"}]]',
        agent_spec=spec,
    )

    tree = await sdk.runs.tree(root.id)
    leaf = await sdk.runs.tree(tree[-1].id)

    assert [(r.depth, r.agent, r.output) for r in tree[1:]] == [(1, None, "hello")]
    assert tree[0].status == RunStatus.COMPLETED
    assert [r.id for r in leaf] == [tree[-1].id]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_subagent_tree_on_every_backend(flavour: str, settings: Settings) -> None:
    async with (
        LiveServer(settings) as server,
        awaited_client(flavour, server.base_url, api_key=ADMIN_KEY) as sdk,
    ):
        await store_helpers(sdk)
        root = await sdk.run(
            input='[[call lead {"task": "go"}]]',
            agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "lead"}]},
        )
        tree = await sdk.runs.tree(root.id)
        listed = await drain(await sdk.runs.list(root_run=root.id, limit=1))

    assert root.output == "lead returned: helper returned: deeper"
    assert [r.depth for r in tree] == [0, 1, 2]
    assert [r.parent_run for r in tree] == [None, tree[0].id, tree[1].id]
    assert sorted(r.id for r in listed) == sorted(r.id for r in tree[1:])


async def test_cancelling_the_root_ends_the_children_it_waits_for(sdk):
    await sdk.agents.create(
        name="sleeper",
        model="test",
        builtin_tools=["wait"],
        instructions='[[call wait {"seconds": 30}]]',
    )
    root = await sdk.runs.create(
        input='[[call sleeper {"task": "zz"}]]',
        agent_spec={"model": "test", "tools": [{"type": "agent", "agent": "sleeper"}]},
    )
    for _ in range(500):
        kids = await drain(await sdk.runs.children(root.id, status="running"))
        if kids:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the subagent never started")

    await sdk.runs.cancel(root.id)
    [child] = kids
    ended = await sdk.runs.wait(child.id, timeout_s=20)

    assert ended.status == RunStatus.CANCELLED


def make_run(run_id: str, parent: str | None, depth: int, age_s: int) -> Run:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=age_s)
    fields: dict[str, Any] = {
        "agent": None,
        "agent_version": None,
        "session": None,
        "input": "x",
        "output": None,
        "error": None,
        "metadata": {},
        "started_at": None,
        "ended_at": None,
    }
    return Run(
        id=run_id,
        status=RunStatus.COMPLETED,
        model="test",
        usage=Usage(),
        parent_run=parent,
        root_run=None if parent is None else "r",
        depth=depth,
        created_at=moment,
        **fields,
    )


def test_a_tree_lists_each_run_after_its_parent_and_siblings_oldest_first():
    root = make_run("r", None, 0, 0)
    a, b = make_run("a", "r", 1, 2), make_run("b", "r", 1, 1)
    a1, b1 = make_run("a1", "a", 2, 3), make_run("b1", "b", 2, 4)
    stray = make_run("s", "elsewhere", 1, 5)

    ordered = tree_order(root, [a1, a, stray, b1, b])

    assert [r.id for r in ordered] == ["r", "b", "b1", "a", "a1"]
    assert [r.id for r in tree_order(a, [a1, a, b, b1])] == ["a", "a1"]


def test_tool_ref_models_are_sent_as_the_fields_given():
    assert tool_ref(AgentToolRef(type="agent", agent="helper")) == {
        "type": "agent",
        "agent": "helper",
        "name": "helper",
    }
    assert tool_ref(SubagentToolRef(type="subagent", models=["test"])) == {
        "type": "subagent",
        "models": ["test"],
    }
    assert tool_ref(HELPER_TOOL) is HELPER_TOOL
    assert spec_body({"model": "test", "tools": [SubagentToolRef(type="subagent")]}) == {
        "model": "test",
        "tools": [{"type": "subagent"}],
    }
    assert spec_body(None) is None


async def test_a_stream_with_subagents_yields_the_tree_s_events_and_ends_with_it(sdk):
    await store_helpers(sdk)
    run = await sdk.runs.create(agent="lead", input="go")

    stream = await sdk.runs.stream(run.id, include_subagents=True)
    streamed = await drain(stream)

    [child] = await drain(await sdk.runs.children(run.id))
    by_run: dict[str, list[AnyEvent]] = {}
    for event in streamed:
        by_run.setdefault(event.run_id, []).append(event)
    assert by_run[run.id] == await sdk.runs.events(run.id)
    assert by_run[child.id] == await sdk.runs.events(child.id)
    assert set(by_run) == {run.id, child.id}
    assert stream.last_event_id.startswith(f"{by_run[run.id][-1].seq};")
    # Resuming from the cursor finds nothing more.
    assert (
        await drain(
            await sdk.runs.stream(run.id, after=stream.last_event_id, include_subagents=True)
        )
        == []
    )
