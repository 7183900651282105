"""Purging a session (`DELETE /v1/sessions/{id}?purge=true`): all of it goes, or none of it.

What goes: the session, its conversation, its runs with their subagents, events, tool calls,
approvals and outputs, and the deliveries, routine fires and idempotency records naming them.
What stays: the spend the runs made (spend caps go on counting it) and an audit entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from corral.services import auth
from corral.storage import files as file_store
from corral.storage.tables import (
    approvals,
    deleted_run_costs,
    idempotency_records,
    run_events,
    run_outputs,
    runs,
    session_messages,
    sessions,
    tool_calls,
)
from corral.storage.tables_routines import routine_fires
from corral.storage.tables_webhooks import webhook_deliveries
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, events, scoped_key, wait
from tests.webhook_receiver import Receiver

WEATHER = {
    "type": "client",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
ASKED_WAIT = {"builtin_tools": ["wait"], "permissions": {"tools": {"wait": "ask"}}}


def call(tool: str, arguments: dict[str, Any]) -> str:
    """A test model directive calling `tool`."""
    return f"[[call {tool} {orjson.dumps(arguments).decode()}]]"


async def open_session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    if "agent" not in body:
        body.setdefault("agent_spec", {"model": "test"})
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send(client: httpx.AsyncClient, session_id: str, text: str, **body: Any) -> dict:
    response = await client.post(
        f"/v1/sessions/{session_id}/messages", json={"input": text, **body}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def purge(client: httpx.AsyncClient, session_id: str) -> httpx.Response:
    return await client.delete(f"/v1/sessions/{session_id}", params={"purge": "true"})


async def until_waiting(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(500):
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        if run["status"] == "waiting":
            return dict(run)
        assert run["status"] in ("queued", "running"), run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never waited")


async def rows_naming(app: Any, session_id: str, run_ids: list[str]) -> dict[str, int]:
    """How many rows of each table name the session or one of the runs."""
    checks = {
        "sessions": sessions.c.id == session_id,
        "session_messages": session_messages.c.session_id == session_id,
        "runs": runs.c.id.in_(run_ids),
        "run_events": run_events.c.run_id.in_(run_ids),
        "tool_calls": tool_calls.c.run_id.in_(run_ids),
        "approvals": approvals.c.run_id.in_(run_ids),
        "run_outputs": run_outputs.c.run_id.in_(run_ids),
        "webhook_deliveries": webhook_deliveries.c.run_id.in_(run_ids),
        "routine_fires": sa.or_(
            routine_fires.c.run_id.in_(run_ids), routine_fires.c.session_id == session_id
        ),
        "idempotency_records": sa.or_(
            idempotency_records.c.operation.in_([f"runs.tool_results:{r}" for r in run_ids]),
            idempotency_records.c.body.contains(session_id),
        ),
    }

    def read(conn: Any) -> dict[str, int]:
        return {
            name: conn.execute(sa.select(sa.func.count()).where(condition)).scalar_one()
            for name, condition in checks.items()
        }

    return dict(await app.state.ctx.database.read(read))


async def a_full_session(app: Any, client: httpx.AsyncClient) -> tuple[dict, list[str]]:
    """A session whose runs left rows of every kind, and the ids of its runs and subagent.

    Messages, a client tool call, an approval, a subagent, outputs, idempotency records.
    """
    created = await client.post(
        "/v1/sessions",
        json={"agent_spec": {"model": "test", **ASKED_WAIT}},
        headers={"Idempotency-Key": "purge-me"},
    )
    assert created.status_code == 201, created.text
    session = created.json()
    sid = session["id"]
    plain = await wait(client, (await send(client, sid, "hello"))["id"])

    tooled = await send(client, sid, "weather?", tools=[WEATHER])
    [pending] = (await until_waiting(client, tooled["id"]))["pending_tool_calls"]
    answer = await client.post(
        f"/v1/runs/{tooled['id']}/tool-results",
        json={"call_id": pending["call_id"], "output": "sunny"},
        headers={"Idempotency-Key": "answer-once"},
    )
    assert answer.status_code == 200, answer.text
    await wait(client, tooled["id"])

    asked = await send(client, sid, '[[call wait {"seconds": 0.01}]]')
    [held] = (await until_waiting(client, asked["id"]))["pending_approvals"]
    decided = await client.post(
        f"/v1/runs/{asked['id']}/approvals/{held['call_id']}", json={"decision": "allow"}
    )
    assert decided.status_code == 200, decided.text
    await wait(client, asked["id"])

    helper = await client.post("/v1/agents", json={"name": "helper", "model": "test"})
    assert helper.status_code == 201, helper.text
    parent = await send(
        client,
        sid,
        call("helper", {"task": "go"}),
        tools=[{"type": "agent", "agent": "helper"}],
    )
    assert (await wait(client, parent["id"]))["status"] == "completed"
    [child] = (await client.get("/v1/runs", params={"parent_run": parent["id"]})).json()["data"]

    ctx = app.state.ctx
    await ctx.database.write(
        file_store.save_outputs, plain["id"], [("report.md", b"# secret\n")], ctx.clock()
    )
    return session, [plain["id"], tooled["id"], asked["id"], parent["id"], child["id"]]


async def test_a_purge_erases_the_session_its_runs_and_all_they_left(app, client):
    session, run_ids = await a_full_session(app, client)
    sid = session["id"]
    kept = await open_session(client)
    kept_run = await wait(client, (await send(client, kept["id"], "stay"))["id"])
    before = await rows_naming(app, sid, run_ids)

    response = await purge(client, sid)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert all(
        before[name] for name in before if name not in ("webhook_deliveries", "routine_fires")
    )
    assert await rows_naming(app, sid, run_ids) == dict.fromkeys(before, 0)
    assert_error(await client.get(f"/v1/sessions/{sid}"), 404, "not_found")
    assert_error(await client.get(f"/v1/sessions/{sid}/stream"), 404, "not_found")
    assert_error(await purge(client, sid), 404, "not_found")
    for run_id in run_ids:
        assert_error(await client.get(f"/v1/runs/{run_id}"), 404, "not_found")
        assert_error(await client.get(f"/v1/runs/{run_id}/events"), 404, "not_found")
        assert_error(await client.get(f"/v1/runs/{run_id}/outputs"), 404, "not_found")
    listed_sessions = (await client.get("/v1/sessions")).json()["data"]
    assert [s["id"] for s in listed_sessions] == [kept["id"]]
    listed_runs = (await client.get("/v1/runs", params={"limit": 100})).json()["data"]
    assert [r["id"] for r in listed_runs] == [kept_run["id"]]
    assert (await client.get("/v1/runs", params={"session": sid})).json()["data"] == []
    assert (await client.get("/v1/approvals")).json()["data"] == []
    assert (await client.get(f"/v1/sessions/{kept['id']}")).json()["messages"]
    assert len(await events(client, kept_run["id"])) > 1


async def test_the_audit_log_keeps_that_a_purge_happened_but_nothing_of_the_session(app, client):
    session, run_ids = await a_full_session(app, client)
    held = (await client.get(f"/v1/sessions/{session['id']}")).json()["messages"]

    assert (await purge(client, session["id"])).status_code == 204

    audited = (await client.get("/v1/audit", params={"action": "session.purged"})).json()
    [entry] = audited["data"]
    assert entry["target_id"] == session["id"]
    assert entry["details"] == {"runs": len(run_ids), "messages": len(held)}
    assert len(held) == 14
    assert entry["actor_key_id"]


async def test_after_a_purge_the_session_s_idempotency_key_opens_a_new_session(app, client):
    session, _ = await a_full_session(app, client)
    await purge(client, session["id"])

    again = await client.post(
        "/v1/sessions",
        json={"agent_spec": {"model": "test", **ASKED_WAIT}},
        headers={"Idempotency-Key": "purge-me"},
    )

    assert again.status_code == 201, again.text
    assert again.json()["id"] != session["id"]


async def test_a_session_with_a_run_going_is_refused_until_it_is_ended(client):
    session = await open_session(client)
    going = await send(client, session["id"], "[[delay 30s]] slow")
    queued = await send(client, session["id"], "after it")

    refused = await purge(client, session["id"])

    assert_error(refused, 409, "run_active")
    assert refused.json()["run_id"] == going["id"]
    assert f"DELETE /v1/sessions/{session['id']}" in refused.json()["message"]
    assert (await client.get(f"/v1/sessions/{session['id']}")).json()["status"] == "running"
    ended = await client.delete(f"/v1/sessions/{session['id']}")
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"

    assert (await purge(client, session["id"])).status_code == 204
    for run in (going, queued):
        assert_error(await client.get(f"/v1/runs/{run['id']}"), 404, "not_found")


async def test_a_subagent_still_going_refuses_the_purge_and_nothing_is_deleted(app, client):
    session, run_ids = await a_full_session(app, client)
    child_id = run_ids[-1]

    def revive(conn: Any) -> None:
        conn.execute(runs.update().where(runs.c.id == child_id).values(status="running"))

    await app.state.ctx.database.write(revive)
    before = await rows_naming(app, session["id"], run_ids)

    refused = await purge(client, session["id"])

    assert_error(refused, 409, "run_active")
    assert refused.json()["run_id"] == child_id
    assert await rows_naming(app, session["id"], run_ids) == before
    # The session was not left ended by the refused purge either.
    assert (await client.get(f"/v1/sessions/{session['id']}")).json()["status"] == "idle"
    assert (await client.get("/v1/audit", params={"action": "session.purged"})).json()["data"] == []


async def test_a_purge_takes_the_scope_of_ending_a_session(app, client, settings):
    session = await open_session(client)
    reader = await scoped_key(settings, ["sessions:read"])
    runs_writer = await scoped_key(settings, ["runs:write", "runs:read"])

    async with api_client(app, reader) as read_only, api_client(app, runs_writer) as other:
        refused = await purge(read_only, session["id"])
        also_refused = await purge(other, session["id"])

    assert_error(refused, 403, "insufficient_scope")
    assert refused.json()["required_scope"] == "sessions:write"
    assert_error(also_refused, 403, "insufficient_scope")
    assert (await client.get(f"/v1/sessions/{session['id']}")).status_code == 200


async def test_an_unknown_or_foreign_session_is_not_found(app, client):
    session = await open_session(client)
    _, other_key = await auth.create_workspace(app.state.ctx, "elsewhere")

    async with api_client(app, other_key) as other:
        foreign = await purge(other, session["id"])

    assert_error(await purge(client, "ses_nope"), 404, "not_found")
    assert_error(foreign, 404, "not_found")
    assert (await client.get(f"/v1/sessions/{session['id']}")).status_code == 200


# -- spend caps --------------------------------------------------------------------------------


@pytest.fixture
async def priced(make_settings: Callable[..., Any], priced_catalog) -> AsyncIterator[Any]:
    """An app whose `test` model costs $10 per million output tokens (input is free)."""
    async with running_app(make_settings(model_catalog=priced_catalog)) as app:
        yield app


async def test_a_spend_cap_still_counts_what_a_purged_session_spent(priced):
    async with api_client(priced) as client:
        agent = {"name": "capped", "model": "test", "spend_limits": {"per_day_usd": 1.0}}
        assert (await client.post("/v1/agents", json=agent)).status_code == 201
        session = await open_session(client, agent="capped")
        # One call of 150,000 output tokens: $1.50, past the agent's cap of $1 a day.
        spent = await wait(
            client, (await send(client, session["id"], "[[tokens 10 150000]] x"))["id"]
        )
        assert spent["usage"]["cost_usd"] == pytest.approx(1.5)

        assert (await purge(client, session["id"])).status_code == 204
        refused = await client.post("/v1/runs", json={"input": "more", "agent": "capped"})

    assert_error(refused, 402, "spend_limit_reached", "agent.spend_limits.per_day_usd")

    def kept(conn: Any) -> list[Any]:
        return list(
            conn.execute(sa.select(deleted_run_costs.c.run_id, deleted_run_costs.c.cost_usd))
        )

    assert [
        (run_id, pytest.approx(1.5)) for run_id, _ in await priced.state.ctx.database.read(kept)
    ] == [(spent["id"], 1.5)]


# -- webhooks and routines ---------------------------------------------------------------------


@pytest.fixture
async def hooked(make_settings: Callable[..., Any]) -> AsyncIterator[Any]:
    """An app that may deliver webhooks to 127.0.0.1, with a stored agent `echo`."""
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with running_app(settings) as app, api_client(app) as client:
        response = await client.post("/v1/agents", json={"name": "echo", "model": "test"})
        assert response.status_code == 201, response.text
        yield app


async def test_a_purge_takes_the_deliveries_and_routine_fires_of_its_runs(
    hooked, receiver: Receiver
):
    async with api_client(hooked) as client:
        hook = await client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": ["run.completed", "routine.fired"]},
        )
        assert hook.status_code == 201, hook.text
        routine = await client.post(
            "/v1/routines",
            json={
                "name": "apart",
                "agent": "echo",
                "input": "hi",
                "session": "per_fire",
                "overlap": "allow",
            },
        )
        assert routine.status_code == 201, routine.text
        rid = routine.json()["id"]
        fired = (await client.post(f"/v1/routines/{rid}/run", json={"payload": {}})).json()
        kept = (await client.post(f"/v1/routines/{rid}/run", json={"payload": {}})).json()
        await wait(client, fired["run_id"])
        await wait(client, kept["run_id"])
        await receiver.until(4)
        deliveries_path = f"/v1/webhooks/{hook.json()['id']}/deliveries"
        before = (await client.get(deliveries_path)).json()["data"]

        assert (await purge(client, fired["session_id"])).status_code == 204

        fires = (await client.get(f"/v1/routines/{rid}/fires")).json()["data"]
        after = (await client.get(deliveries_path)).json()["data"]
        assert_error(await client.get(f"/v1/routines/{rid}/fires/{fired['id']}"), 404, "not_found")

    assert [f["id"] for f in fires] == [kept["id"]]
    assert len(before) == 4
    gone = {f"msg_{fired['id']}"} | {
        d["message_id"] for d in before if d["run_id"] == fired["run_id"]
    }
    assert len(gone) == 2
    assert sorted(d["message_id"] for d in after) == sorted(
        d["message_id"] for d in before if d["message_id"] not in gone
    )
    assert await rows_naming(hooked, fired["session_id"], [fired["run_id"]]) == dict.fromkeys(
        [
            "sessions",
            "session_messages",
            "runs",
            "run_events",
            "tool_calls",
            "approvals",
            "run_outputs",
            "webhook_deliveries",
            "routine_fires",
            "idempotency_records",
        ],
        0,
    )
