"""Tool calls a permission policy holds for a person: requested, decided once, then run or not."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.helpers import assert_error, events, submit, wait

WAIT = '[[call wait {"seconds": 0.01}]]'


def agent(permissions: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A test agent offering the builtin `wait` tool (no sandbox needed) under `permissions`."""
    return {"model": "test", "builtin_tools": ["wait"], "permissions": permissions, **spec}


async def until_waiting(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """The run once it waits for a decision, holding no worker."""
    for _ in range(500):
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        if run["status"] == "waiting":
            return dict(run)
        assert run["status"] in ("queued", "running"), run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never waited")


async def decide(
    client: httpx.AsyncClient, run_id: str, call_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/v1/runs/{run_id}/approvals/{call_id}", json=body)


async def test_an_asked_call_waits_for_a_person_then_runs_once_allowed(client):
    run = await submit(client, WAIT, agent_spec=agent({"tools": {"wait": "ask"}}))
    waiting = await until_waiting(client, run["id"])

    requested = [e for e in await events(client, run["id"]) if e["type"] == "approval.requested"]
    [held] = waiting["pending_approvals"]
    assert (held["call_id"], held["name"], held["policy"]) == (
        requested[0]["call_id"],
        "wait",
        "tools.wait",
    )
    listed = (await client.get("/v1/runs", params={"status": "waiting"})).json()["data"]
    assert [r["pending_approvals"][0]["approval_id"] for r in listed] == [held["approval_id"]]
    assert len(requested) == 1
    assert requested[0]["name"] == "wait"
    assert requested[0]["input"] == {"seconds": 0.01}
    assert requested[0]["policy"] == "tools.wait"
    assert not [e for e in await events(client, run["id"]) if e["type"] == "tool.started"]
    inbox = (await client.get("/v1/approvals", params={"status": "pending"})).json()["data"]
    assert [(a["run_id"], a["tool"], a["status"]) for a in inbox] == [
        (run["id"], "wait", "pending")
    ]

    decided = await decide(client, run["id"], requested[0]["call_id"], decision="allow")
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "allowed"
    assert decided.json()["decided_by"]
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert ended["output"] == "wait returned: waited 0.01 s"
    assert ended["pending_approvals"] == []
    log = await events(client, run["id"])
    kinds = [e["type"] for e in log]
    assert kinds.index("approval.requested") < kinds.index("approval.decided")
    assert kinds.index("approval.decided") < kinds.index("tool.started")
    assert (await client.get("/v1/approvals", params={"status": "pending"})).json()["data"] == []
    audit = (await client.get("/v1/audit", params={"action": "approval.allowed"})).json()["data"]
    assert [(a["target_id"], a["details"]["tool"]) for a in audit] == [
        (decided.json()["id"], "wait")
    ]


async def test_a_denied_call_never_runs_and_the_model_reads_why(client):
    run = await submit(client, WAIT, agent_spec=agent({"default": "ask"}))
    await until_waiting(client, run["id"])
    [approval] = (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]
    assert approval["policy"] == "default"

    response = await decide(
        client, run["id"], approval["call_id"], decision="deny", message="not on a Friday"
    )
    assert response.json()["status"] == "denied"
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert "denied" in ended["output"] and "not on a Friday" in ended["output"]
    log = await events(client, run["id"])
    assert not [e for e in log if e["type"] == "tool.started"]
    [completed] = [e for e in log if e["type"] == "tool.completed"]
    assert completed["ok"] is False


async def test_a_decision_is_applied_once_and_a_conflicting_one_is_refused(client):
    run = await submit(client, WAIT, agent_spec=agent({"tools": {"wait": "ask"}}))
    await until_waiting(client, run["id"])
    [approval] = (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]
    call_id = approval["call_id"]

    first, again = await asyncio.gather(
        decide(client, run["id"], call_id, decision="allow"),
        decide(client, run["id"], call_id, decision="allow"),
    )
    other = await decide(client, run["id"], call_id, decision="deny")

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["decided_at"] == again.json()["decided_at"]
    assert_error(other, 409, "approval_conflict", field="/decision")
    await wait(client, run["id"])
    log = await events(client, run["id"])
    assert len([e for e in log if e["type"] == "approval.decided"]) == 1
    assert len([e for e in log if e["type"] == "tool.started"]) == 1


async def test_an_allow_may_change_the_arguments_the_call_runs_with(client):
    run = await submit(client, WAIT, agent_spec=agent({"tools": {"wait": "ask"}}))
    await until_waiting(client, run["id"])
    [approval] = (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]

    await decide(client, run["id"], approval["call_id"], decision="allow", input={"seconds": 0.02})
    ended = await wait(client, run["id"])

    assert ended["output"] == "wait returned: waited 0.02 s"
    [started] = [e for e in await events(client, run["id"]) if e["type"] == "tool.started"]
    assert started["input"] == {"seconds": 0.02}


async def test_parallel_calls_are_decided_one_by_one(client):
    run = await submit(
        client, WAIT + ' [[call wait {"seconds": 0.02}]]', agent_spec=agent({"default": "ask"})
    )
    await until_waiting(client, run["id"])
    first, second = (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]

    await decide(client, run["id"], first["call_id"], decision="allow")
    await asyncio.sleep(0.2)
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "waiting"
    await decide(client, run["id"], second["call_id"], decision="deny")
    ended = await wait(client, run["id"])

    assert ended["output"].splitlines()[0] == "wait returned: waited 0.01 s"
    assert ended["output"].splitlines()[1].startswith("wait failed: a person denied")


async def test_a_policy_can_deny_without_asking(client):
    run = await submit(client, WAIT, agent_spec=agent({"tools": {"wait": "deny"}}))
    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert "permission policy (tools.wait) does not allow this call" in ended["output"]
    assert (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"] == []


async def test_the_runs_own_permissions_win_over_its_agents(client):
    spec = agent({"tools": {"wait": "deny"}})
    run = await submit(client, WAIT, agent_spec=spec, permissions={"tools": {"wait": "allow"}})

    assert (await wait(client, run["id"]))["output"] == "wait returned: waited 0.01 s"


async def test_an_approval_that_times_out_fails_the_run_with_a_clear_code(client):
    permissions = {"tools": {"wait": "ask"}, "approval_timeout_s": 0.3}
    run = await submit(client, WAIT, agent_spec=agent(permissions))
    await until_waiting(client, run["id"])

    ended = await wait(client, run["id"], timeout_s=20)
    [approval] = (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]
    late = await decide(client, run["id"], approval["call_id"], decision="allow")

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "approval_timeout"
    assert approval["status"] == "expired"
    assert_error(late, 409, "approval_expired")


async def test_a_cancelled_run_withdraws_its_approvals(client):
    run = await submit(client, WAIT, agent_spec=agent({"tools": {"wait": "ask"}}))
    await until_waiting(client, run["id"])
    await client.post(f"/v1/runs/{run['id']}/cancel")

    [approval] = (await client.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]
    late = await decide(client, run["id"], approval["call_id"], decision="allow")
    pending = (await client.get("/v1/approvals", params={"status": "pending"})).json()["data"]

    assert approval["status"] == "withdrawn"
    assert_error(late, 409, "run_terminal")
    assert pending == []


async def test_the_inbox_filters_by_agent_and_metadata(client):
    created = await client.post(
        "/v1/agents", json={"name": "careful", **agent({"tools": {"wait": "ask"}})}
    )
    assert created.status_code == 201, created.text
    mine = await submit(client, WAIT, agent="careful", metadata={"team": "red"})
    other = await submit(
        client, WAIT, agent_spec=agent({"default": "ask"}), metadata={"team": "blue"}
    )
    await until_waiting(client, mine["id"])
    await until_waiting(client, other["id"])

    async def runs_of(**params: Any) -> list[str]:
        page = await client.get("/v1/approvals", params={"status": "pending", **params})
        return [a["run_id"] for a in page.json()["data"]]

    assert await runs_of(agent="careful") == [mine["id"]]
    assert await runs_of(metadata="team:blue") == [other["id"]]
    assert set(await runs_of()) == {mine["id"], other["id"]}
    for run in (mine, other):
        await client.post(f"/v1/runs/{run['id']}/cancel")


async def test_a_session_takes_messages_while_a_call_waits_and_they_run_in_order(client):
    session = await client.post(
        "/v1/sessions", json={"agent_spec": agent({"tools": {"wait": "ask"}})}
    )
    session_id = session.json()["id"]
    first = await client.post(f"/v1/sessions/{session_id}/messages", json={"input": WAIT})
    await until_waiting(client, first.json()["id"])

    second = await client.post(f"/v1/sessions/{session_id}/messages", json={"input": "after"})
    assert second.status_code == 202, second.text
    await asyncio.sleep(0.2)
    assert (await client.get(f"/v1/runs/{second.json()['id']}")).json()["status"] == "queued"

    [approval] = (await client.get(f"/v1/runs/{first.json()['id']}/approvals")).json()["data"]
    await decide(client, first.json()["id"], approval["call_id"], decision="allow")
    assert (await wait(client, second.json()["id"]))["output"] == "after"
    assert (await wait(client, first.json()["id"]))["status"] == "completed"


async def test_bad_decisions_and_policies_are_refused_with_the_field(client):
    run = await submit(client, WAIT, agent_spec=agent({"tools": {"wait": "ask"}}))
    await until_waiting(client, run["id"])

    unknown = await decide(client, run["id"], "call_nope", decision="allow")
    bad = await decide(client, run["id"], "call_nope", decision="maybe")
    mixed = await decide(client, run["id"], "call_nope", decision="allow", message="ok")
    denied_input = await decide(client, run["id"], "call_nope", decision="deny", input={})
    client_tool = await client.post(
        "/v1/runs",
        json={
            "input": "hi",
            "agent_spec": {"model": "test", "tools": [{"type": "client", "name": "ask_user"}]},
            "permissions": {"tools": {"ask_user": "ask"}},
        },
    )
    bad_policy = await client.post(
        "/v1/runs", json={"input": "hi", "agent_spec": agent({"tools": {"wait": "sometimes"}})}
    )

    assert_error(unknown, 404, "not_found")
    assert_error(bad, 400, "invalid_request", field="/decision")
    assert_error(mixed, 400, "invalid_request", field="/message")
    assert_error(denied_input, 400, "invalid_request", field="/input")
    assert_error(client_tool, 400, "invalid_request", field="/permissions/tools/ask_user")
    assert bad_policy.status_code == 400
    await client.post(f"/v1/runs/{run['id']}/cancel")
