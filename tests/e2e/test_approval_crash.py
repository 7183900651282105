"""A run waiting for a person's approval outlives the processes around it.

It holds no worker while it waits: a worker killed then loses nothing, a server killed and
started again on the same data still shows the approval, and the decision posted while no worker
is alive is carried out by the next one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import assert_sound_log, wait_for_event
from tests.helpers import events, submit, wait

pytestmark = pytest.mark.e2e

ASKING = {"model": "test", "builtin_tools": ["wait"], "permissions": {"tools": {"wait": "ask"}}}
WAIT = '[[call wait {"seconds": 0.01}]]'


async def pending_call(client: httpx.AsyncClient, run_id: str) -> str:
    """The call id of the run's one pending approval, as the inbox lists it."""
    inbox = (await client.get("/v1/approvals", params={"status": "pending"})).json()["data"]
    assert [a["run_id"] for a in inbox] == [run_id]
    return str(inbox[0]["call_id"])


def assert_ran_once(log: list[dict[str, Any]], run_id: str) -> None:
    assert_sound_log(log, run_id)
    kinds = [e["type"] for e in log]
    assert kinds.count("approval.requested") == 1
    assert kinds.count("approval.decided") == 1
    assert kinds.count("tool.started") == 1
    assert kinds.count("run.started") == 1


async def test_an_approval_survives_a_server_killed_and_started_again(cluster: Cluster) -> None:
    env = cluster.sqlite_env(lease_s=2)
    first = await cluster.serve(env)
    async with first.client(timeout=30) as client:
        run = await submit(client, WAIT, agent_spec=ASKING)
        await wait_for_event(client, run["id"], "approval.requested")
    first.kill()

    second = await cluster.serve(env)
    async with second.client(timeout=30) as client:
        call_id = await pending_call(client, run["id"])
        decided = await client.post(
            f"/v1/runs/{run['id']}/approvals/{call_id}", json={"decision": "allow"}
        )
        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])

    assert decided.status_code == 200, decided.text
    assert ended["status"] == "completed", ended
    assert ended["output"] == "wait returned: waited 0.01 s"
    assert_ran_once(log, run["id"])
    assert second.errors() == []


@pytest.mark.postgres
async def test_a_decision_made_while_no_worker_lives_is_carried_out_by_the_next(
    cluster: Cluster,
) -> None:
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    async with server.client(timeout=30) as client:
        run = await submit(client, WAIT, agent_spec=ASKING)
        await wait_for_event(client, run["id"], "approval.requested")
        worker_a.kill()
        call_id = await pending_call(client, run["id"])
        decided = await client.post(
            f"/v1/runs/{run['id']}/approvals/{call_id}",
            json={"decision": "deny", "message": "the change window is closed"},
        )
        assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "queued"

        await cluster.worker(env)
        ended = await wait(client, run["id"], timeout_s=30)
        log = await events(client, run["id"])

    assert decided.status_code == 200, decided.text
    assert ended["status"] == "completed", ended
    assert "the change window is closed" in ended["output"]
    assert_sound_log(log, run["id"])
    assert [e["type"] for e in log].count("tool.started") == 0
    assert [e["decision"] for e in log if e["type"] == "approval.decided"] == ["deny"]
    assert worker_a.actions("run.parked", run_id=run["id"])


@pytest.mark.postgres
async def test_a_run_waiting_for_approval_holds_no_worker_slot(cluster: Cluster) -> None:
    env = await cluster.postgres_env(worker_concurrency=1)
    server = await cluster.serve(env)
    async with server.client(timeout=30) as client:
        waiting = await submit(client, WAIT, agent_spec=ASKING)
        await wait_for_event(client, waiting["id"], "approval.requested")

        other = await submit(client, "meanwhile")
        assert (await wait(client, other["id"], timeout_s=10))["output"] == "meanwhile"
        assert (await client.get(f"/v1/runs/{waiting['id']}")).json()["status"] == "waiting"
        await client.post(f"/v1/runs/{waiting['id']}/cancel")
