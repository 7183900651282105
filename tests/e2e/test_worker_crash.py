"""A worker process killed with SIGKILL: another worker takes its runs over once the lease
expires, and the event log reads as if nothing had happened.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import (
    assert_sound_log,
    client_tool,
    message_text,
    wait_for_event,
    wait_for_status,
)
from tests.helpers import events, submit, wait

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


async def test_a_run_whose_worker_is_killed_mid_model_call_completes_on_another_worker(
    cluster: Cluster,
):
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))

    async with server.client(timeout=30) as client:
        run = await submit(client, "[[delay 3s]] hello")
        await worker_a.wait_for_log("run.claimed", run_id=run["id"], worker_id=worker_a.worker_id)
        before_kill = await wait_for_event(client, run["id"], "run.started")
        worker_a.kill()
        assert [e["type"] for e in before_kill] == ["run.started"]  # the model had not answered

        worker_b = await cluster.worker(env)
        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert ended["output"] == "hello"
    terminal = assert_sound_log(log, run["id"])
    assert terminal["type"] == "run.completed"
    assert terminal["output"] == "hello"
    assert message_text(log) == "hello"
    takeover = worker_b.actions("run.claimed", run_id=run["id"])
    assert [(c["worker_id"], c["attempt"]) for c in takeover] == [(worker_b.worker_id, 2)]
    assert worker_b.errors() == []


async def test_text_a_killed_worker_already_streamed_is_not_streamed_again_by_a_standby_worker(
    cluster: Cluster,
):
    env = await cluster.postgres_env(lease_s=2)
    server, *workers = await asyncio.gather(
        cluster.serve(env, worker=False), cluster.worker(env), cluster.worker(env)
    )
    text = "one two three four five six"

    async with server.client(timeout=30) as client:
        run = await submit(client, f"[[stream_delay 300ms]] {text}")
        before_kill = await wait_for_event(client, run["id"], "message.delta", count=2)
        (victim,) = [w for w in workers if w.actions("run.claimed", run_id=run["id"])]
        victim.kill()
        streamed = message_text(await events(client, run["id"]))
        assert streamed and text.startswith(streamed) and streamed != text, streamed

        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])

    (standby,) = [w for w in workers if w is not victim]
    assert ended["status"] == "completed", ended
    assert ended["output"] == text
    assert_sound_log(log, run["id"])
    assert log[: len(before_kill)] == before_kill
    assert message_text(log) == text
    takeover = standby.actions("run.claimed", run_id=run["id"])
    assert [(c["worker_id"], c["attempt"]) for c in takeover] == [(standby.worker_id, 2)]
    assert standby.errors() == []


async def test_client_tool_calls_are_neither_asked_for_nor_applied_twice_after_a_worker_dies(
    cluster: Cluster,
):
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    spec = {"model": "test", "tools": [client_tool("a"), client_tool("b")]}

    async with server.client(timeout=30) as client:
        run = await submit(client, "[[call a {}]] [[call b {}]] go", agent_spec=spec)
        log = await wait_for_event(client, run["id"], "client_tool.call", count=2)
        call_ids = {e["name"]: e["call_id"] for e in log if e["type"] == "client_tool.call"}
        assert set(call_ids) == {"a", "b"}
        await wait_for_status(client, run["id"], "waiting")

        answered = await client.post(
            f"/v1/runs/{run['id']}/tool-results",
            json={"call_id": call_ids["a"], "output": "apples"},
        )
        assert answered.status_code == 200, answered.text
        await wait_for_event(client, run["id"], "client_tool.result", call_id=call_ids["a"])
        worker_a.kill()

        worker_b = await cluster.worker(env)
        answered = await client.post(
            f"/v1/runs/{run['id']}/tool-results",
            json={"call_id": call_ids["b"], "output": "bananas"},
        )
        assert answered.status_code == 200, answered.text
        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert "a returned: apples" in ended["output"]
    assert "b returned: bananas" in ended["output"]
    assert_sound_log(log, run["id"])
    asked = Counter(e["call_id"] for e in log if e["type"] == "client_tool.call")
    applied = Counter(e["call_id"] for e in log if e["type"] == "client_tool.result")
    assert asked == {call_ids["a"]: 1, call_ids["b"]: 1}
    assert applied == {call_ids["a"]: 1, call_ids["b"]: 1}
    results = {e["call_id"]: e["output"] for e in log if e["type"] == "client_tool.result"}
    assert results == {call_ids["a"]: "apples", call_ids["b"]: "bananas"}
    assert worker_b.actions("run.claimed", run_id=run["id"])[0]["attempt"] == 2
    assert worker_b.errors() == []
