"""A server killed and started again on the same SQLite data directory resumes its runs."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import assert_sound_log, message_text, wait_for_event, wait_for_status
from tests.helpers import events, submit, wait

pytestmark = pytest.mark.e2e


async def test_a_run_left_running_by_a_killed_server_completes_after_a_restart_on_the_same_data(
    cluster: Cluster,
) -> None:
    env = cluster.sqlite_env(lease_s=2)
    first = await cluster.serve(env)

    async with first.client(timeout=30) as client:
        run = await submit(client, "[[delay 3s]] again")
        await wait_for_status(client, run["id"], "running")
        await wait_for_event(client, run["id"], "run.started")
    first.kill()

    second = await cluster.serve(env)
    async with second.client(timeout=30) as client:
        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert ended["output"] == "again"
    terminal = assert_sound_log(log, run["id"])
    assert terminal["type"] == "run.completed"
    assert message_text(log) == "again"
    assert [c["attempt"] for c in first.actions("run.claimed", run_id=run["id"])] == [1]
    assert [c["attempt"] for c in second.actions("run.claimed", run_id=run["id"])] == [2]
    assert second.errors() == []
