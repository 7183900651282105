"""Deployments through the SDK: Corral routines that open a session per run, and their runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anthropic import AsyncAnthropic, BadRequestError, ConflictError, NotFoundError

pytestmark = pytest.mark.timeout(60)

TRICKY = "Report {{ payload }} as is: {% if x %}yes{% endif %} {# not a comment #}"
"""Text the routine's template must keep literally."""


def message(*texts: str) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": t} for t in texts]}


async def agent_and_environment(client: AsyncAnthropic) -> tuple[str, str]:
    env = await client.beta.environments.create(name="dev", config={"type": "cloud"})
    agent = await client.beta.agents.create(name="reporter", model="test", system="Be brief.")
    return agent.id, env.id


async def deploy(client: AsyncAnthropic, **fields: Any) -> Any:
    agent_id, env_id = await agent_and_environment(client)
    body: dict[str, Any] = {
        "name": "nightly",
        "agent": agent_id,
        "environment_id": env_id,
        "initial_events": [message("hello")],
    }
    return await client.beta.deployments.create(**{**body, **fields})


async def eventually(check: Any, timeout_s: float = 20.0) -> Any:
    """`check()`'s first truthy answer, polled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def settled_events(client: AsyncAnthropic, session_id: str) -> list[Any]:
    """The session's events once its turn ended."""

    async def idle() -> list[Any] | None:
        events = [e async for e in client.beta.sessions.events.list(session_id)]
        return events if any(e.type == "session.status_idle" for e in events) else None

    found: list[Any] = await eventually(idle)
    return found


async def test_a_deployment_is_created_read_changed_and_listed(client):
    agent_id, env_id = await agent_and_environment(client)
    created = await client.beta.deployments.create(
        name="Nightly report: ops",
        agent=agent_id,
        environment_id=env_id,
        initial_events=[message("first", TRICKY), message("second")],
        schedule={"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/Paris"},
        description="Reports every weekday",
        metadata={"team": "ops"},
    )

    assert created.id.startswith("rtn_")
    assert (created.name, created.status, created.paused_reason) == (
        "Nightly report: ops",
        "active",
        None,
    )
    assert (created.agent.id, created.agent.version, created.environment_id) == (
        agent_id,
        1,
        env_id,
    )
    assert [[b.text for b in e.content] for e in created.initial_events] == [
        ["first", TRICKY],
        ["second"],
    ]
    assert created.metadata == {"team": "ops"}
    assert created.schedule.expression == "0 9 * * 1-5"
    assert created.schedule.timezone == "Europe/Paris"
    assert len(created.schedule.upcoming_runs_at) == 5
    assert created.schedule.last_run_at is None
    assert (created.vault_ids, created.resources, created.archived_at) == ([], [], None)
    assert await client.beta.deployments.retrieve(created.id) == created

    await client.beta.agents.update(agent_id, version=1, system="Be very brief.")
    kept = await client.beta.deployments.update(
        created.id,
        name="nightly",
        description=None,
        metadata={"team": None, "tier": "gold"},
        schedule=None,
        initial_events=[message("only this")],
    )
    assert kept.agent.version == 1  # pinned at creation
    assert (kept.name, kept.description, kept.metadata, kept.schedule) == (
        "nightly",
        None,
        {"tier": "gold"},
        None,
    )
    assert [e.content[0].text for e in kept.initial_events] == ["only this"]
    repinned = await client.beta.deployments.update(created.id, agent=agent_id)
    assert repinned.agent.version == 2

    listed = [d.id async for d in client.beta.deployments.list()]
    by_agent = await client.beta.deployments.list(agent_id="agt_other")
    paused_only = await client.beta.deployments.list(status="paused")
    assert created.id in listed
    assert by_agent.data == [] and paused_only.data == []


async def test_names_need_not_be_unique(client):
    first, second = await deploy(client), await deploy(client)
    assert first.id != second.id and first.name == second.name == "nightly"


async def test_pausing_archiving_and_what_an_archived_deployment_refuses(client):
    made = await deploy(client)

    paused = await client.beta.deployments.pause(made.id)
    assert (paused.status, paused.paused_reason.type) == ("paused", "manual")
    active = await client.beta.deployments.unpause(made.id)
    assert (active.status, active.paused_reason) == ("active", None)

    archived = await client.beta.deployments.archive(made.id)
    again = await client.beta.deployments.archive(made.id)
    assert archived.archived_at is not None and again.archived_at == archived.archived_at
    assert (archived.status, archived.paused_reason) == ("active", None)
    assert made.id not in [d.id async for d in client.beta.deployments.list()]
    assert made.id in [d.id async for d in client.beta.deployments.list(include_archived=True)]
    for refused in (
        client.beta.deployments.update(made.id, description="x"),
        client.beta.deployments.pause(made.id),
        client.beta.deployments.run(made.id),
    ):
        with pytest.raises(ConflictError):
            await refused


async def test_running_a_deployment_opens_a_session_that_answers(client):
    made = await deploy(client, initial_events=[message(TRICKY)])

    run = await client.beta.deployments.run(made.id)

    assert (run.deployment_id, run.error, run.trigger_context.type) == (made.id, None, "manual")
    assert (run.agent.id, run.agent.version) == (made.agent.id, 1)
    session = await client.beta.sessions.retrieve(run.session_id)
    assert session.environment_id == made.environment_id
    events = await settled_events(client, run.session_id)
    sent = next(e for e in events if e.type == "user.message")
    answer = next(e for e in events if e.type == "agent.message")
    assert sent.content[0].text == TRICKY
    assert TRICKY in answer.content[0].text  # the test model echoes its message
    assert await client.beta.deployment_runs.retrieve(run.id) == run
    listed = await client.beta.deployment_runs.list(deployment_id=made.id)
    assert [r.id for r in listed.data] == [run.id]
    failed = await client.beta.deployment_runs.list(deployment_id=made.id, has_error=True)
    scheduled = await client.beta.deployment_runs.list(
        deployment_id=made.id, trigger_type="schedule"
    )
    assert failed.data == [] and scheduled.data == []
    keyed = [
        await client.beta.deployments.run(made.id, extra_headers={"Idempotency-Key": "k1"})
        for _ in range(2)
    ]
    assert keyed[0].id == keyed[1].id != run.id


async def test_a_schedule_fires_runs_on_its_own(client):
    made = await deploy(
        client, schedule={"type": "cron", "expression": "* * * * * *", "timezone": "UTC"}
    )

    async def scheduled() -> list[Any]:
        found = await client.beta.deployment_runs.list(
            deployment_id=made.id, trigger_type="schedule"
        )
        return found.data

    [first, *_] = await eventually(scheduled)
    await client.beta.deployments.pause(made.id)
    assert first.trigger_context.type == "schedule"
    assert first.trigger_context.scheduled_at is not None and first.session_id is not None
    shown = await client.beta.deployments.retrieve(made.id)
    assert shown.schedule.last_run_at is not None


async def test_a_run_that_cannot_open_its_session_pauses_the_deployment(client):
    made = await deploy(client)
    await client.beta.environments.archive(made.environment_id)

    run = await client.beta.deployments.run(made.id)

    assert run.session_id is None
    assert run.error.type == "environment_archived_error"
    shown = await client.beta.deployments.retrieve(made.id)
    assert shown.status == "paused"
    assert shown.paused_reason.type == "error"
    assert shown.paused_reason.error.type == "environment_archived_error"
    errors = await client.beta.deployment_runs.list(has_error=True)
    assert run.id in [r.id for r in errors.data]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"vault_ids": ["vlt_1"]}, "/vault_ids"),
        ({"resources": [{"type": "file", "file_id": "f"}]}, "/resources"),
        (
            {"budget": {"type": "limit", "max_list_cost": {"amount": "1", "currency": "USD"}}},
            "/budget",
        ),
        (
            {"initial_events": [{"type": "system.message", "content": []}]},
            "/initial_events/0",
        ),
        (
            {
                "initial_events": [
                    {
                        "type": "user.message",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "https://x"}}
                        ],
                    }
                ]
            },
            "/initial_events/0/content/0",
        ),
        (
            {"schedule": {"type": "cron", "expression": "61 * * * *", "timezone": "UTC"}},
            "/schedule/expression",
        ),
        (
            {"schedule": {"type": "cron", "expression": "0 * * * *", "timezone": "Mars/Base"}},
            "/schedule/timezone",
        ),
    ],
    ids=["vaults", "resources", "budget", "system-message", "image", "cron", "timezone"],
)
async def test_what_a_deployment_cannot_be_is_refused_naming_the_field(client, fields, field):
    with pytest.raises(BadRequestError) as refused:
        await deploy(client, **fields)
    assert refused.value.body["error"]["field"] == field


async def test_unknown_deployments_and_runs_are_not_found(client):
    with pytest.raises(NotFoundError):
        await client.beta.deployments.retrieve("rtn_missing")
    with pytest.raises(NotFoundError):
        await client.beta.deployment_runs.retrieve("fire_missing")
    with pytest.raises(BadRequestError):
        await client.beta.deployments.list(status="active", include_archived=True)
    nothing = await client.beta.deployment_runs.list(deployment_id="rtn_missing")
    assert nothing.data == []


async def test_the_sync_client_runs_a_deployment(clients):
    sync, asynchronous = clients
    made = await deploy(asynchronous)

    def program() -> tuple[Any, list[str]]:
        run = sync.beta.deployments.run(made.id)
        return run, [d.id for d in sync.beta.deployments.list()]

    run, listed = await asyncio.to_thread(program)
    assert run.session_id is not None and made.id in listed
