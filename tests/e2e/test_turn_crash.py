"""A worker killed the instant a model turn is logged: the turn is not asked of the model again.

The turn is logged once, and the usage events add up to the run's usage.

The dying worker (`dying_worker.py`) SIGKILLs itself right after the commit that logs a turn's
`message.completed`, before anything else: the window in which a turn logged ahead of its
checkpoint would be taken for unfinished by the worker that takes the run over.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import assert_sound_log, client_tool, wait_for_event, wait_for_status
from tests.helpers import events, submit, wait

pytestmark = [pytest.mark.e2e]

DYING_WORKER = (str(Path(__file__).with_name("dying_worker.py")),)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_turn_logged_as_its_worker_dies_is_neither_repeated_nor_counted_twice(
    cluster: Cluster, database: str
) -> None:
    if database == "postgres":
        env = await cluster.postgres_env(lease_s=2)
    else:
        env = cluster.sqlite_env(lease_s=2)
    server = await cluster.serve(env, worker=False)
    dying = await cluster.worker(env, program=DYING_WORKER)
    spec = {"model": "test", "tools": [client_tool("lookup")]}

    async with server.client(timeout=30) as client:
        run = await submit(
            client,
            "[[stream_delay 15ms]] [[tokens 120 40]] [[call lookup {}]] find it",
            agent_spec=spec,
        )
        assert dying.popen.wait(timeout=20) == -9, dying.describe()
        log = await events(client, run["id"])
        assert [e["type"] for e in log if e["type"] in ("message.completed", "usage")] == [
            "message.completed",
            "usage",
        ]

        taking_over = await cluster.worker(env)
        (call,) = [
            e for e in await wait_for_event(client, run["id"], "client_tool.call")
            if e["type"] == "client_tool.call"
        ]  # fmt: skip
        await wait_for_status(client, run["id"], "waiting")
        answered = await client.post(
            f"/v1/runs/{run['id']}/tool-results",
            json={"call_id": call["call_id"], "output": "found"},
        )
        assert answered.status_code == 200, answered.text
        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert "lookup returned: found" in ended["output"]
    assert_sound_log(log, run["id"])
    turns = [e for e in log if e["type"] == "message.completed"]
    assert len(turns) == 2, [e["type"] for e in log]
    assert turns[0]["tool_calls"] == [{"call_id": call["call_id"], "name": "lookup", "input": {}}]
    assert Counter(e["type"] for e in log)["client_tool.call"] == 1
    usage = [e for e in log if e["type"] == "usage"]
    assert len(usage) == 2
    assert (
        _summed(usage)
        == {
            "input_tokens": ended["usage"]["input_tokens"],
            "output_tokens": ended["usage"]["output_tokens"],
        }
        == {"input_tokens": 240, "output_tokens": 80}
    )
    assert [c["attempt"] for c in taking_over.actions("run.claimed", run_id=run["id"])] == [2]
    assert taking_over.errors() == []


def _summed(usage: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "input_tokens": sum(e["input_tokens"] for e in usage),
        "output_tokens": sum(e["output_tokens"] for e in usage),
    }
