"""Tool calls cut off by a worker's death or freeze: never silently run twice, never left running.

A call with effects that a dead worker started is answered "interrupted, effects unknown" on
the worker that takes the run over; a read-only one simply runs again. A frozen worker's
environment is killed by its fence before another worker may take its runs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from corral.sandbox.capabilities import probe
from tests.e2e.conftest import Cluster
from tests.e2e.helpers import assert_sound_log, wait_for_event
from tests.helpers import events, submit, wait

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not probe().enforced, reason=f"no sandbox here: {probe().detail}"),
]


def call(name: str, **arguments: Any) -> str:
    return f"[[call {name} {json.dumps(arguments)}]]"


def completed(log: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in log if e["type"] == "tool.completed"}


async def test_a_call_with_effects_cut_off_by_a_dead_worker_is_not_run_again(
    cluster: Cluster,
) -> None:
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    async with server.client(timeout=30) as client:
        run = await submit(
            client,
            call("bash", command="echo ran >> count.txt; sleep 30")
            + " "
            + call("read", path="count.txt"),
        )
        await wait_for_event(client, run["id"], "tool.started")
        await asyncio.sleep(1.0)  # the command has written its line and sleeps
        worker_a.kill()

        await cluster.worker(env)
        ended = await wait(client, run["id"], timeout_s=30)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert_sound_log(log, run["id"])
    interrupted = [e for e in log if e["type"] == "tool.interrupted"]
    assert [e["name"] for e in interrupted] == ["bash"]
    results = completed(log)
    assert results["bash"]["ok"] is False and "interrupted" in results["bash"]["error"]
    assert results["read"]["output"] == "1\tran"  # the command ran once, not twice
    assert [e["name"] for e in log if e["type"] == "tool.started"] == ["bash", "read"]


async def test_a_read_only_call_cut_off_by_a_dead_worker_runs_again(cluster: Cluster) -> None:
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    async with server.client(timeout=30) as client:
        run = await submit(
            client,
            # A catastrophic pattern: seconds of matching at the environment's quarter core.
            call("write", path="slow.txt", content="x" * 25 + "\n")
            + " "
            + call("grep", pattern="(x+x+)+y", path="."),
        )
        await wait_for_event(client, run["id"], "tool.started", count=2)
        await asyncio.sleep(1.0)
        assert (
            len([e for e in await events(client, run["id"]) if e["type"] == "tool.completed"]) == 1
        )
        worker_a.kill()

        await cluster.worker(env)
        ended = await wait(client, run["id"], timeout_s=30)
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert [e for e in log if e["type"] == "tool.interrupted"] == []
    assert completed(log)["grep"]["output"] == "no match for '(x+x+)+y'"


async def test_a_frozen_workers_environment_dies_before_another_worker_takes_the_run(
    cluster: Cluster,
) -> None:
    # A lease of 4 s (a fence of 3.2 s) leaves a loaded machine room for a slow heartbeat.
    env = await cluster.postgres_env(lease_s=4)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    async with server.client(timeout=60) as client:
        run = await submit(
            client,
            call("bash", command="sleep 8; echo late >> effects.txt; sleep 30")
            + " "
            + call("bash", command="cat effects.txt 2>/dev/null; sleep 6; cat effects.txt"),
        )
        await wait_for_event(client, run["id"], "tool.started")
        # The tool call starts the environment: freeze the worker once it runs (and is fenced).
        await worker_a.wait_for_log("environment.started", timeout_s=20)
        worker_a.popen.send_signal(signal.SIGSTOP)  # frozen, past its lease
        try:
            worker_b = await cluster.worker(env)
            ended = await wait(client, run["id"], timeout_s=50)
            log = await events(client, run["id"])
        finally:
            worker_a.popen.send_signal(signal.SIGCONT)

    assert ended["status"] == "completed", ended
    checks = [e for e in log if e["type"] == "tool.completed"]
    assert "interrupted" in checks[0]["error"]
    # The frozen worker's command never got to its effect, even while the new owner ran on.
    assert "late" not in (checks[1]["output"] or ""), checks[1]
    takeover = worker_b.actions("run.claimed", run_id=run["id"])
    assert [c["attempt"] for c in takeover] == [2]


async def test_a_killed_workers_environments_die_with_it(cluster: Cluster) -> None:
    env = await cluster.postgres_env(lease_s=2)
    server, worker_a = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    marker = f"corral-orphan-{uuid.uuid4().hex[:12]}"
    async with server.client(timeout=30) as client:
        run = await submit(
            client,
            call("bash", command=f"setsid bash -c 'exec -a {marker} sleep 60' &", background=True)
            + " "
            + call("bash", command="sleep 60"),
        )
        await wait_for_event(client, run["id"], "tool.started", count=2)
        assert await eventually(lambda: _running(marker)), "the background job never started"
        # This worker's network helpers (other tests may run environments of their own).
        slirps = _running("slirp4netns", session=worker_a.pid)
        assert slirps, "the run's environment has no network helper to watch"

        worker_a.kill()

        assert await eventually(lambda: not _running(marker)), _running(marker)
        assert await eventually(lambda: not (set(_running("slirp4netns")) & set(slirps)))


def _running(pattern: str, *, session: int | None = None) -> list[str]:
    where = ["-s", str(session)] if session is not None else []
    found = subprocess.run(
        ["pgrep", *where, "-f", pattern], capture_output=True, text=True, check=False
    )
    return found.stdout.split()


async def eventually(condition: Callable[[], object], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True
