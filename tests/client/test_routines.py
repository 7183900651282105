"""`client.routines`: routines made, fired (by hand, schedule and webhook), paused and listed.

Firing by hand is checked on each backend with a server of its own; the rest share the
package's server, each test in a workspace of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from corral.client import (
    ConflictError,
    Fire,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    Routine,
)
from corral.client.resources.routines import AsyncRoutines, Routines
from corral.settings import Settings
from corral.types.routines import ScheduleTrigger, ScheduleTriggerParams, WebhookTrigger
from tests.client.conftest import Awaited, awaited_client, drain, new_workspace
from tests.client.test_client import public_methods, shape
from tests.conftest import ADMIN_KEY, BACKENDS, LiveServer

WAITING = ("pending", "queued")


def test_the_sync_and_async_resources_have_the_same_methods_and_parameters():
    sync_methods, async_methods = public_methods(Routines), public_methods(AsyncRoutines)

    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


@pytest_asyncio.fixture(loop_scope="package")
async def echo(sdk: Awaited) -> str:
    """A stored agent on the `test` model, which answers with its input."""
    return str((await sdk.agents.create(name="echo", model="test")).name)


async def handled(sdk: Awaited, routine: str, fire_id: str) -> Fire:
    """The fire once a worker has taken it up."""
    for _ in range(200):
        fire = await sdk.routines.fire(routine, fire_id)
        if fire.status not in WAITING:
            return fire
        await asyncio.sleep(0.05)
    raise AssertionError(f"fire {fire_id} was never handled")


async def fires_until(sdk: Awaited, routine: str, done: Callable[[list[Fire]], bool]) -> list[Fire]:
    """Every fire of the routine, once `done` holds for them."""
    for _ in range(200):
        found = await drain(await sdk.routines.fires(routine))
        if done(found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"the fires never got there: {found}")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_run_by_hand_renders_the_payload_and_a_repeated_key_answers_the_first_fire(
    flavour: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(poll_interval_s=0.1)
    async with (
        LiveServer(settings) as server,
        awaited_client(flavour, server.base_url, api_key=ADMIN_KEY) as sdk,
    ):
        await sdk.agents.create(name="echo", model="test")
        routine = await sdk.routines.create(
            name="triage",
            agent="echo",
            input="Issue: {{ payload.title }} ({{ routine.name }})",
            metadata={"team": "infra"},
        )
        fire = await sdk.routines.run("triage", payload={"title": "Crash"}, idempotency_key="k1")
        run = await sdk.runs.wait(fire.run_id, timeout_s=30)
        again = await sdk.routines.run(routine.id, payload={"title": "Other"}, idempotency_key="k1")
        keyless = await sdk.routines.run(routine.id)
        found = await sdk.routines.fire("triage", fire.id)
        history = await drain(await sdk.routines.fires(routine.id))
        retrieved = await sdk.routines.retrieve("triage")

    assert isinstance(routine, Routine) and routine.id.startswith("rtn_")
    assert (routine.status, routine.triggers, routine.session, routine.overlap) == (
        "active",
        [],
        "none",
        "skip",
    )
    assert isinstance(fire, Fire)
    assert (fire.status, fire.trigger, fire.routine_id) == ("started", "manual", routine.id)
    assert (run.status, run.input, run.output) == (
        "completed",
        "Issue: Crash (triage)",
        "Issue: Crash (triage)",
    )
    assert run.metadata == {"team": "infra", "routine": routine.id, "routine_fire": fire.id}
    assert again.id == fire.id
    assert keyless.id != fire.id
    assert found.id == fire.id and found.run_id == run.id
    assert [f.id for f in history] == [keyless.id, fire.id]
    assert retrieved.last_fired_at is not None


async def test_schedule_and_webhook_triggers_fire_until_the_routine_is_paused(
    sdk: Awaited, echo: str, server: LiveServer
) -> None:
    scheduled = await sdk.routines.create(
        name="watch",
        agent=echo,
        input="{{ fire.trigger }}:{{ payload.action }}",
        overlap="allow",
        triggers=[
            ScheduleTriggerParams(type="schedule", cron="* * * * * *", timezone="Europe/Paris")
        ],
    )
    routine = await sdk.routines.update(
        "watch",
        triggers=[*scheduled.triggers, {"type": "webhook", "filter": "$[?@.action == 'opened']"}],
    )
    schedule, hook = routine.triggers
    assert isinstance(schedule, ScheduleTrigger) and isinstance(hook, WebhookTrigger)
    by_schedule = await fires_until(
        sdk, routine.id, lambda found: any(f.trigger == "schedule" for f in found)
    )
    async with httpx.AsyncClient(base_url=server.base_url) as sender:
        opened = await sender.post(hook.path, json={"action": "opened"})
        closed = await sender.post(hook.path, json={"action": "closed"})
    by_hook = await handled(sdk, routine.id, opened.json()["fire_id"])
    filtered = await handled(sdk, routine.id, closed.json()["fire_id"])
    hook_run = await sdk.runs.wait(by_hook.run_id, timeout_s=30)
    paused = await sdk.routines.pause(routine.id)
    async with httpx.AsyncClient(base_url=server.base_url) as sender:
        refused = await sender.post(hook.path, json={"action": "opened"})
    resumed = await sdk.routines.resume(routine.id)
    await sdk.routines.delete(routine.id)

    assert schedule.id == scheduled.triggers[0].id
    assert (schedule.cron, schedule.timezone, len(schedule.upcoming)) == (
        "* * * * * *",
        "Europe/Paris",
        5,
    )
    assert schedule.next_fire_at is not None
    assert hook.path.startswith("/v1/hooks/hook_")
    assert hook.filter == "$[?@.action == 'opened']"
    assert any(f.scheduled_at is not None for f in by_schedule if f.trigger == "schedule")
    assert opened.status_code == closed.status_code == 202
    assert (by_hook.trigger, by_hook.trigger_id, by_hook.status) == ("webhook", hook.id, "started")
    assert hook_run.output == "webhook:opened"
    assert filtered.status == "filtered" and filtered.run_id is None
    assert (paused.status, paused.paused_reason.code) == ("paused", "manual")
    assert paused.triggers[0].next_fire_at is None
    assert (refused.status_code, refused.json()["error"]) == (409, "routine_paused")
    assert (resumed.status, resumed.paused_reason) == ("active", None)
    assert resumed.triggers[0].next_fire_at is not None


async def test_update_keeps_the_triggers_given_back_and_their_urls(sdk: Awaited, echo: str) -> None:
    await sdk.secrets.create(name="GITHUB_SECRET", value="s3cret")
    routine = await sdk.routines.create(
        name="hooked",
        agent=echo,
        input="x",
        paused=True,
        triggers=[
            {
                "type": "webhook",
                "verify": {"scheme": "github", "secret": "GITHUB_SECRET"},
                "dedupe": {"key": "$.id", "window_s": 60},
            }
        ],
    )
    [hook] = routine.triggers
    updated = await sdk.routines.update(
        "hooked",
        description="issues",
        catch_up="once",
        triggers=[*routine.triggers, {"type": "schedule", "cron": "0 9 * * 1-5"}],
    )
    moved = await sdk.routines.update("hooked", agent_version=1)
    unpinned = await sdk.routines.update("hooked", agent_version=None, triggers=[])

    assert routine.status == "paused" and routine.triggers[0].type == "webhook"
    kept, added = updated.triggers
    assert (kept.id, kept.path, kept.verify, kept.dedupe) == (
        hook.id,
        hook.path,
        {"scheme": "github", "secret": "GITHUB_SECRET"},
        {"key": "$.id", "window_s": 60},
    )
    assert (added.type, added.timezone) == ("schedule", "UTC")
    assert (updated.description, updated.catch_up, updated.input) == ("issues", "once", "x")
    assert moved.agent_version == 1 and moved.triggers == updated.triggers
    assert (unpinned.agent_version, unpinned.triggers) == (None, [])


async def test_fires_page_newest_first_and_filter_by_status(sdk: Awaited, echo: str) -> None:
    await sdk.routines.create(name="slow", agent=echo, input="[[delay 1500ms]] {{ payload.n }}")
    first = await sdk.routines.run("slow", payload={"n": 1})
    skipped = [await sdk.routines.run("slow", payload={"n": n}) for n in (2, 3)]
    page = await sdk.routines.fires("slow", limit=2)
    every = await drain(page)
    only_skipped = await drain(await sdk.routines.fires("slow", status="skipped"))
    only_started = await drain(await sdk.routines.fires("slow", status="started"))
    listed = await drain(await sdk.routines.list(limit=1))

    assert first.status == "started"
    assert [(f.status, f.reason, f.run_id) for f in skipped] == [("skipped", "overlap", None)] * 2
    assert len(page.data) == 2 and page.next_cursor is not None
    assert [f.id for f in every] == [skipped[1].id, skipped[0].id, first.id]
    assert [f.id for f in only_skipped] == [skipped[1].id, skipped[0].id]
    assert [f.id for f in only_started] == [first.id]
    assert [r.name for r in listed] == ["slow"]


async def test_refusals_raise_typed_errors_naming_the_field(
    sdk: Awaited, echo: str, server: LiveServer, open_client: Any
) -> None:
    refused: list[InvalidRequestError] = []
    for triggers in (
        [{"type": "schedule", "cron": "61 * * * *"}],
        [{"type": "webhook", "dedupe": {"key": "$["}}],
    ):
        with pytest.raises(InvalidRequestError) as error:
            await sdk.routines.create(name="bad", agent=echo, input="x", triggers=triggers)
        refused.append(error.value)
    with pytest.raises(NotFoundError) as no_agent:
        await sdk.routines.create(name="bad", agent="nobody", input="x")
    await sdk.routines.create(name="taken", agent=echo, input="x")
    with pytest.raises(ConflictError) as taken:
        await sdk.routines.create(name="taken", agent=echo, input="x")
    with pytest.raises(NotFoundError) as missing:
        await sdk.routines.run("nothing")
    with pytest.raises(NotFoundError) as no_fire:
        await sdk.routines.fire("taken", "fire_nope")
    reader = await new_workspace(server, scopes=["routines:read"])
    async with open_client(server.base_url, api_key=reader) as read_only:
        assert await drain(await read_only.routines.list()) == []
        with pytest.raises(PermissionDeniedError) as denied:
            await read_only.routines.run("taken")

    assert [e.field for e in refused] == ["/triggers/0/cron", "/triggers/0/dedupe/key"]
    assert no_agent.value.field == "/agent"
    assert (taken.value.code, taken.value.field) == ("conflict", "/name")
    assert missing.value.code == no_fire.value.code == "not_found"
    assert denied.value.required_scope == "routines:write"
