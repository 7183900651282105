"""Workers killed with SIGKILL: another worker takes their runs over once the leases expire.

The event logs must then read as if nothing had happened.
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
    read_stream,
    wait_for_event,
    wait_for_status,
)
from tests.helpers import events, submit, wait

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


async def test_runs_of_a_worker_killed_mid_model_call_or_mid_stream_complete_on_another_worker(
    cluster: Cluster,
) -> None:
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    streamed_text = "one two three four five six"

    async with server.client(timeout=30) as client, asyncio.TaskGroup() as background:
        calling = await submit(client, "[[delay 3s]] hello")
        streaming = await submit(client, f"[[stream_delay 400ms]] {streamed_text}")
        watching = background.create_task(
            read_stream(client, f"/v1/runs/{streaming['id']}/stream", timeout_s=30)
        )
        for run in (calling, streaming):
            await worker_a.wait_for_log("run.claimed", run_id=run["id"])
        before_kill = {
            calling["id"]: await wait_for_event(client, calling["id"], "run.started"),
            streaming["id"]: await wait_for_event(
                client, streaming["id"], "message.delta", count=2
            ),
        }
        worker_a.kill()
        # Killed while the model was still thinking about one and half-way through the other.
        assert [e["type"] for e in await events(client, calling["id"])] == ["run.started"]
        half_streamed = message_text(await events(client, streaming["id"]))
        assert streamed_text.startswith(half_streamed) and half_streamed != streamed_text

        worker_b = await cluster.worker(env)
        ended = {
            run["id"]: await wait(client, run["id"], timeout_s=20) for run in (calling, streaming)
        }
        logs = {run["id"]: await events(client, run["id"]) for run in (calling, streaming)}

    for run, text in ((calling, "hello"), (streaming, streamed_text)):
        log = logs[run["id"]]
        assert (ended[run["id"]]["status"], ended[run["id"]]["output"]) == ("completed", text)
        terminal = assert_sound_log(log, run["id"])
        assert (terminal["type"], terminal["output"]) == ("run.completed", text)
        assert message_text(log) == text  # nothing streamed twice, nothing lost
        assert log[: len(before_kill[run["id"]])] == before_kill[run["id"]]
        takeover = worker_b.actions("run.claimed", run_id=run["id"])
        assert [(c["worker_id"], c["attempt"]) for c in takeover] == [(worker_b.worker_id, 2)]
    # A client that followed the stream through the crash saw each event once, in order.
    frames, _closed_at = watching.result()
    assert [frame["data"] for _, frame in frames] == logs[streaming["id"]]
    assert worker_b.errors() == [], worker_b.describe()


async def test_client_tool_calls_are_neither_asked_for_nor_applied_twice_after_a_worker_dies(
    cluster: Cluster,
) -> None:
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
