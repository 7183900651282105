"""Cancelling through an API node stops the run in the worker process executing it."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import assert_sound_log, wait_for_event
from tests.helpers import events, submit, wait

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


async def test_a_cancel_reaches_the_worker_executing_the_run_within_one_second(
    cluster: Cluster,
) -> None:
    # A 30 s lease renewed every 10 s: losing the lease cannot be what stops the run in time.
    env = await cluster.postgres_env(lease_s=30)
    server, worker = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))

    async with server.client(timeout=30) as client:
        run = await submit(client, "[[delay 30s]] x")
        await worker.wait_for_log("run.claimed", run_id=run["id"])
        await wait_for_event(client, run["id"], "run.started")

        requested_at = time.monotonic()
        response = await client.post(f"/v1/runs/{run['id']}/cancel")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        await worker.wait_for_log("run.ended", run_id=run["id"], status="cancelled", timeout_s=5)
        stopped_after_s = time.monotonic() - requested_at

        after = await submit(client, "still working")
        after_ended = await wait(client, after["id"], timeout_s=10)
        log = await events(client, run["id"])
        final = (await client.get(f"/v1/runs/{run['id']}")).json()

    assert stopped_after_s < 1.0, f"the worker stopped the run {stopped_after_s:.2f} s later"
    assert final["status"] == "cancelled"
    assert final["output"] is None
    terminal = assert_sound_log(log, run["id"])
    assert terminal["type"] == "run.cancelled"
    assert [e["type"] for e in log] == ["run.started", "run.cancelled"]
    assert (after_ended["status"], after_ended["output"]) == ("completed", "still working")
    assert worker.errors() == [], worker.describe()
    assert server.errors() == [], server.describe()
