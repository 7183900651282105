"""Routines: run by hand, on a schedule and by inbound webhooks, with their history.

A routine acts as the key that made it; its fires start runs of its stored agent, with the
input its template renders, and a fire that cannot start says why (pausing the routine when
every later fire would fail the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, scoped_key, wait


@pytest.fixture
async def served(make_settings: Callable[..., Any]) -> AsyncIterator[tuple[Any, Any]]:
    settings = make_settings(poll_interval_s=0.1)
    async with running_app(settings) as app, api_client(app) as client:
        response = await client.post("/v1/agents", json={"name": "echo", "model": "test"})
        assert response.status_code == 201, response.text
        yield app, client


@pytest.fixture
def api(served: tuple[Any, Any]) -> Any:
    return served[1]


async def create(client: Any, **body: Any) -> dict[str, Any]:
    payload = {"name": "nightly", "agent": "echo", "input": "hello", **body}
    response = await client.post("/v1/routines", json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def fires(client: Any, routine: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/routines/{routine['id']}/fires", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def settled(client: Any, routine: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The routine's fires once `count` of them were handled (newest first)."""
    for _ in range(200):
        found = await fires(client, routine)
        done = [f for f in found if f["status"] not in ("pending", "queued")]
        if len(done) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} fires handled: {found}")


async def test_running_a_routine_by_hand_starts_its_run_with_the_rendered_input(api):
    routine = await create(api, input="Issue: {{ payload.title }} by {{ routine.name }}")
    assert (routine["status"], routine["triggers"], routine["overlap"]) == ("active", [], "skip")
    response = await api.post(
        f"/v1/routines/{routine['name']}/run",
        json={"payload": {"title": "Crash"}, "idempotency_key": "k1"},
    )
    assert response.status_code == 201, response.text
    fire = response.json()
    assert (fire["status"], fire["trigger"]) == ("started", "manual")
    run = await wait(api, fire["run_id"])
    assert (run["input"], run["output"]) == ("Issue: Crash by nightly", "Issue: Crash by nightly")
    assert run["metadata"] == {"routine": routine["id"], "routine_fire": fire["id"]}

    again = await api.post(
        f"/v1/routines/{routine['id']}/run", json={"payload": {"x": 1}, "idempotency_key": "k1"}
    )
    assert (again.status_code, again.json()["id"]) == (200, fire["id"])
    assert [f["id"] for f in await fires(api, routine)] == [fire["id"]]
    assert (await api.get(f"/v1/routines/{routine['id']}")).json()["last_fired_at"] is not None


async def test_a_schedule_fires_each_second_once_and_stops_while_paused(api):
    routine = await create(
        api,
        overlap="allow",
        triggers=[
            {"type": "schedule", "cron": "* * * * * *", "timezone": "Europe/Paris"},
            {"type": "webhook"},
        ],
    )
    trigger, hook = routine["triggers"]
    assert hook["path"].startswith("/v1/hooks/")
    assert len(trigger["upcoming"]) == 5 and trigger["next_fire_at"] == trigger["upcoming"][0]
    found = await settled(api, routine, 3)
    started = [f for f in found if f["status"] == "started"]
    times = [f["scheduled_at"] for f in started]
    assert len(set(times)) == len(times) >= 3
    assert all(t.endswith(("Z", "+00:00")) for t in times)
    for fire in started[:3]:
        assert (await wait(api, fire["run_id"]))["status"] == "completed"

    paused = (await api.post(f"/v1/routines/{routine['id']}/pause")).json()
    assert paused["status"] == "paused"
    assert paused["paused_reason"]["code"] == "manual"
    assert paused["triggers"][0]["next_fire_at"] is None
    await asyncio.sleep(0.3)
    before = len(await fires(api, routine))
    await asyncio.sleep(1.5)
    assert len(await fires(api, routine)) == before

    resumed = (await api.post(f"/v1/routines/{routine['id']}/resume")).json()
    assert (resumed["status"], resumed["paused_reason"]) == ("active", None)
    await settled(api, routine, before + 1)


async def test_overlap_skip_and_queue_decide_what_a_fire_does_while_a_run_goes_on(api):
    slow = await create(api, name="slow", input="[[delay 1500ms]] {{ payload.n }}")
    first = (await api.post(f"/v1/routines/{slow['id']}/run", json={"payload": {"n": 1}})).json()
    second = (await api.post(f"/v1/routines/{slow['id']}/run", json={"payload": {"n": 2}})).json()
    assert first["status"] == "started"
    assert (second["status"], second["reason"], second["run_id"]) == ("skipped", "overlap", None)

    await api.patch(f"/v1/routines/{slow['id']}", json={"overlap": "queue"})
    await wait(api, first["run_id"])
    third = (await api.post(f"/v1/routines/{slow['id']}/run", json={"payload": {"n": 3}})).json()
    fourth = (await api.post(f"/v1/routines/{slow['id']}/run", json={"payload": {"n": 4}})).json()
    assert (third["status"], fourth["status"]) == ("started", "queued")
    await wait(api, third["run_id"])
    for _ in range(100):
        fourth = (await api.get(f"/v1/routines/{slow['id']}/fires/{fourth['id']}")).json()
        if fourth["status"] == "started":
            break
        await asyncio.sleep(0.05)
    assert (await wait(api, fourth["run_id"]))["output"].endswith("4")


async def test_a_fire_of_a_deleted_agent_fails_and_pauses_the_routine(api):
    routine = await create(api)
    assert (await api.delete("/v1/agents/echo")).status_code == 204
    fire = (await api.post(f"/v1/routines/{routine['id']}/run")).json()
    assert (fire["status"], fire["error"]["code"]) == ("failed", "not_found")
    found = (await api.get(f"/v1/routines/{routine['id']}")).json()
    assert (found["status"], found["paused_reason"]["code"]) == ("paused", "not_found")


async def test_a_template_that_fails_fails_its_fire_only(api):
    routine = await create(api, input="{{ payload.tags.append(1) }}")
    fire = await api.post(f"/v1/routines/{routine['id']}/run", json={"payload": {"tags": []}})
    body = fire.json()
    assert (body["status"], body["error"]["code"]) == ("failed", "template_error")
    assert "unsafe" in body["error"]["message"]
    assert (await api.get(f"/v1/routines/{routine['id']}")).json()["status"] == "active"


async def test_a_session_mode_puts_fires_in_a_new_or_in_one_shared_session(api):
    shared = await create(api, name="shared", session="shared", overlap="allow")
    assert shared["session_id"] is not None
    one = (await api.post(f"/v1/routines/{shared['id']}/run", json={"payload": {}})).json()
    two = (await api.post(f"/v1/routines/{shared['id']}/run", json={"payload": {}})).json()
    assert one["session_id"] == two["session_id"] == shared["session_id"]
    await wait(api, two["run_id"])
    session = (await api.get(f"/v1/sessions/{shared['session_id']}")).json()
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 2

    apart = await create(api, name="apart", session="per_fire", overlap="allow")
    three = (await api.post(f"/v1/routines/{apart['id']}/run")).json()
    four = (await api.post(f"/v1/routines/{apart['id']}/run")).json()
    assert None not in (three["session_id"], four["session_id"])
    assert three["session_id"] != four["session_id"]
    assert (await wait(api, four["run_id"]))["session"] == four["session_id"]


async def test_bad_routines_are_refused_naming_the_field(api):
    cases = [
        ({"triggers": [{"type": "schedule", "cron": "61 * * * *"}]}, 400, "/triggers/0/cron"),
        ({"triggers": [{"type": "schedule", "cron": "* * *"}]}, 400, "/triggers/0/cron"),
        (
            {"triggers": [{"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Base"}]},
            400,
            "/triggers/0/cron",
        ),
        ({"input": "{{ payload.x "}, 400, "/input"),
        (
            {"triggers": [{"type": "webhook", "filter": "$[?match(@.a, 'x.*')]"}]},
            400,
            "/triggers/0/filter",
        ),
        (
            {"triggers": [{"type": "webhook", "dedupe": {"key": "$["}}]},
            400,
            "/triggers/0/dedupe/key",
        ),
        ({"agent": "nobody"}, 404, "/agent"),
    ]
    for body, status, field in cases:
        response = await api.post(
            "/v1/routines", json={"name": "bad", "agent": "echo", "input": "x", **body}
        )
        code = {400: "invalid_request", 404: "not_found"}[status]
        assert_error(response, status, code, field)
    missing = await api.post(
        "/v1/routines",
        json={
            "name": "bad",
            "agent": "echo",
            "input": "x",
            "triggers": [{"type": "webhook", "verify": {"scheme": "github", "secret": "NOPE"}}],
        },
    )
    assert_error(missing, 400, "secret_not_found", "/triggers/0/verify/secret")
    await create(api)
    assert_error(
        await api.post("/v1/routines", json={"name": "nightly", "agent": "echo", "input": "x"}),
        409,
        "conflict",
        "/name",
    )
    assert (await api.get("/v1/routines")).json()["data"][0]["name"] == "nightly"


async def test_routines_take_their_own_scopes(served, settings):
    app, api = served
    await create(api)
    reader = await scoped_key(settings, ["routines:read"])
    async with api_client(app, key=reader) as client:
        assert (await client.get("/v1/routines")).status_code == 200
        assert_error(await client.post("/v1/routines/nightly/run"), 403, "insufficient_scope")
    # A routine's runs are its key's: a key that cannot start runs cannot make one.
    writer = await scoped_key(settings, ["routines:write", "agents:read"])
    async with api_client(app, key=writer) as client:
        body = {"name": "other", "agent": "echo", "input": "x"}
        assert_error(await client.post("/v1/routines", json=body), 403, "insufficient_scope")


async def test_deleting_a_routine_keeps_its_runs(api):
    routine = await create(api)
    fire = (await api.post(f"/v1/routines/{routine['id']}/run")).json()
    await wait(api, fire["run_id"])
    assert (await api.delete(f"/v1/routines/{routine['id']}")).status_code == 204
    assert_error(await api.get(f"/v1/routines/{routine['id']}"), 404, "not_found")
    assert (await api.get(f"/v1/runs/{fire['run_id']}")).status_code == 200


async def test_a_routine_opens_its_sessions_in_its_environment(api):
    env = (await api.post("/v1/environments", json={"name": "py"})).json()
    apart = await create(
        api, name="apart", session="per_fire", overlap="allow", environment_id=env["id"]
    )
    assert apart["environment_id"] == env["id"]
    fire = (await api.post(f"/v1/routines/{apart['id']}/run")).json()
    session = (await api.get(f"/v1/sessions/{fire['session_id']}")).json()
    assert session["environment_id"] == env["id"]

    shared = await create(api, name="shared", session="shared", environment_id=env["id"])
    session = (await api.get(f"/v1/sessions/{shared['session_id']}")).json()
    assert session["environment_id"] == env["id"]
    cleared = await api.patch(f"/v1/routines/{shared['id']}", json={"environment_id": None})
    assert cleared.json()["environment_id"] is None
    assert cleared.json()["session_id"] != shared["session_id"]

    await api.post(f"/v1/environments/{env['id']}/archive")
    failed = (await api.post(f"/v1/routines/{apart['id']}/run")).json()
    assert (failed["status"], failed["error"]["code"]) == ("failed", "environment_archived")
    paused = (await api.get(f"/v1/routines/{apart['id']}")).json()
    assert (paused["status"], paused["paused_reason"]["code"]) == ("paused", "environment_archived")


async def test_an_environment_needs_a_session_mode_and_must_exist(api):
    env = (await api.post("/v1/environments", json={"name": "py"})).json()
    cases = [
        ({"environment_id": env["id"]}, 400, "invalid_request"),
        ({"session": "per_fire", "environment_id": "env_missing"}, 404, "not_found"),
    ]
    for body, status, code in cases:
        response = await api.post(
            "/v1/routines", json={"name": "r", "agent": "echo", "input": "x", **body}
        )
        assert_error(response, status, code, field="/environment_id")
