"""The worker's environments: warm for sessions, idle stops, one per workspace, the fence."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from corral.errors import SandboxUnavailable
from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import EnvironmentSpec, EnvironmentUnavailable
from corral.sandbox.fence import Fence
from corral.sandbox.host import Host
from corral.sandbox.pool import Environments
from tests.sandbox.conftest import CAPS, needs_sandbox, output, pids_matching

pytestmark = needs_sandbox

NONE = EgressPolicy(mode="none")


@pytest.fixture
async def pool(host: Host):
    environments = Environments(host, idle_s=30, lock_wait_s=2)
    yield environments
    await environments.close()


async def test_a_sessions_environment_is_kept_warm_and_reused_without_its_jobs(pool, marker):
    spec = EnvironmentSpec(key="ses_warm", network=NONE)
    first = await pool.acquire(spec)
    assert (
        await first.call("job_start", {"command": f"exec -a {marker} sleep 60"}, timeout_s=5)
    ).ok

    await pool.release(first, keep_warm=True)
    again = await pool.acquire(spec)

    assert again is first and again.alive
    assert pids_matching(marker) == []  # the run that started the job is over
    await pool.release(again, keep_warm=False)
    assert not again.alive


async def test_an_idle_environment_stops_after_the_idle_time(host):
    pool = Environments(host, idle_s=0.5)
    environment = await pool.acquire(EnvironmentSpec(key="ses_idle", network=NONE))
    await pool.release(environment, keep_warm=True)

    deadline = time.monotonic() + 5
    while environment.alive and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    assert not environment.alive
    assert pool.running() == []
    await pool.close()


async def test_a_different_spec_for_the_same_workspace_gets_a_fresh_environment(pool):
    small = await pool.acquire(EnvironmentSpec(key="ses_spec", network=NONE))
    await output(small, "echo kept > file")
    await pool.release(small, keep_warm=True)

    other = await pool.acquire(
        EnvironmentSpec(key="ses_spec", network=NONE, variables={"GREETING": "hi"})
    )

    assert other is not small and not small.alive
    assert await output(other, 'cat file; echo "$GREETING"') == "kept\nhi\n"
    await pool.release(other, keep_warm=False)


async def test_a_workspace_held_by_another_worker_is_asked_for_and_then_handed_over(host):
    asked: list[str] = []
    holder = Environments(host, idle_s=60)

    async def on_busy(key: str) -> None:
        asked.append(key)
        await holder.let_go(key)

    taker = Environments(host, idle_s=60, lock_wait_s=5, on_busy=on_busy)
    held = await holder.acquire(EnvironmentSpec(key="ses_shared", network=NONE))
    await holder.release(held, keep_warm=True)

    taken = await taker.acquire(EnvironmentSpec(key="ses_shared", network=NONE))

    assert asked == ["ses_shared"]
    assert not held.alive and taken.alive
    await taker.close()
    await holder.close()


async def test_a_workspace_in_use_is_refused_after_the_wait(host):
    holder = Environments(host, idle_s=60)
    taker = Environments(host, idle_s=60, lock_wait_s=0.3)
    held = await holder.acquire(EnvironmentSpec(key="ses_busy", network=NONE))

    with pytest.raises(EnvironmentUnavailable, match="in use"):
        await taker.acquire(EnvironmentSpec(key="ses_busy", network=NONE))

    assert held.alive
    await holder.close()


async def test_a_network_mode_the_host_cannot_enforce_is_refused(host):
    limited_host = Host(
        capabilities=dataclasses.replace(CAPS, networks=("none",)), workspaces=host.workspaces
    )
    pool = Environments(limited_host)

    with pytest.raises(SandboxUnavailable, match="networking mode 'open'"):
        await pool.acquire(EnvironmentSpec(key="run_open", network=EgressPolicy(mode="open")))
    await pool.close()
    limited_host.close()


async def test_the_fence_kills_environments_when_the_lease_lapses(host, marker):
    fence = Fence()
    await fence.start()
    pool = Environments(host, fence=fence)
    fence.hold_for(30)
    environment = await pool.acquire(EnvironmentSpec(key="run_fenced", network=NONE))
    assert (await environment.call("job_start", {"command": f"exec -a {marker} sleep 60"},
                                   timeout_s=5)).ok  # fmt: skip
    await _until(lambda: len(pids_matching(marker)) == 1)

    fence.hold_for(0.3)  # the worker renews no more: as if it were frozen
    await asyncio.sleep(1.0)

    assert pids_matching(marker) == []
    await pool.close()
    await fence.close()


async def test_the_fence_kills_environments_when_the_worker_goes_away(host, marker):
    fence = Fence()
    await fence.start()
    pool = Environments(host, fence=fence)
    fence.hold_for(30)
    environment = await pool.acquire(EnvironmentSpec(key="run_orphan", network=NONE))
    assert (await environment.call("job_start", {"command": f"exec -a {marker} sleep 60"},
                                   timeout_s=5)).ok  # fmt: skip

    await fence.close()  # its stdin closes, as when the worker dies

    assert pids_matching(marker) == []
    await pool.close()


async def test_an_environment_the_fence_forgot_is_left_alone(host, marker):
    fence = Fence()
    await fence.start()
    pool = Environments(host, fence=fence)
    fence.hold_for(30)
    environment = await pool.acquire(EnvironmentSpec(key="run_kept", network=NONE))
    await pool.release(environment, keep_warm=False)
    survivor = await pool.acquire(EnvironmentSpec(key="run_other", network=NONE))
    assert (await survivor.call("job_start", {"command": f"exec -a {marker} sleep 60"},
                                timeout_s=5)).ok  # fmt: skip

    await _until(lambda: len(pids_matching(marker)) == 1)
    fence.hold_for(30)
    await asyncio.sleep(0.3)

    assert len(pids_matching(marker)) == 1
    await pool.close()
    await fence.close()


async def _until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
