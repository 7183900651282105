"""Environments against real processes: who runs inside, what it sees and uses, how it ends."""

from __future__ import annotations

import asyncio
import dataclasses
import platform
import secrets
import shlex
import time
from pathlib import Path

import pytest

from corral.sandbox import seccomp
from corral.sandbox.environment import Environment, EnvironmentLost, EnvironmentSpec
from corral.sandbox.host import RUNTIME_SIZES
from tests.sandbox.conftest import (
    CAPS,
    bash,
    needs_cgroups,
    needs_disk_quota,
    needs_root,
    needs_sandbox,
    output,
    pids_matching,
)

pytestmark = needs_sandbox

SMALL = RUNTIME_SIZES["small"]


# --- who runs inside -----------------------------------------------------------------------


@needs_root
async def test_the_agent_runs_as_an_unprivileged_user_of_its_own_without_capabilities(start, host):
    environment = await start()

    status = await output(
        environment, "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
    )
    outside = await asyncio.to_thread(Path(f"/proc/{environment.sandbox_pid}/status").read_text)

    inside_uid, *lines = status.split("\n")
    assert inside_uid == "1000"
    assert "CapEff:\t0000000000000000" in lines
    assert "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines
    real_uid = next(line.split()[1] for line in outside.splitlines() if line.startswith("Uid:"))
    assert int(real_uid) == host.uid_of(environment.spec.key) != 0


@needs_root
async def test_two_environments_run_as_different_users_and_cannot_see_each_other(marker, start):
    first, second = await start(), await start()
    await bash(first, "echo secret > mine.txt")
    job = {"command": f"exec -a {marker} sleep 60"}
    assert (await first.call("job_start", job, timeout_s=5)).ok

    # Everywhere but the host's system files and the kernel's views, which hold no workspace:
    # walking them takes most of a minute on a busy machine.
    search = (
        "find / \\( -path /usr -o -path /proc -o -path /sys \\) -prune -o -name mine.txt -print"
    )
    seen = await output(second, f"ps -eo args; echo ---; {search} 2>/dev/null | wc -l", 60)

    processes, found = seen.split("---\n")
    assert marker not in processes
    assert len(processes.splitlines()) < 8  # its own init, tool server, bash, ps
    assert found == "0\n"
    assert await output(first, f"{search} 2>/dev/null | wc -l", 60) == "1\n"  # it finds its own
    assert first.uid != second.uid
    await first.stop()


async def test_the_system_is_minimal_read_only_and_secrets_are_masked(start, data_dir):
    environment = await start()
    host_tmp = Path("/tmp") / f"corral-host-tmp-{secrets.token_hex(4)}"
    host_tmp.write_text("host tmp file")
    try:
        seen = await output(
            environment,
            f"wc -c < /etc/shadow; ls {data_dir} 2>&1; cat {host_tmp} 2>&1; "
            "ls -A /tmp; touch /etc/x /usr/x 2>&1 | grep -c Read-only; ls /; "
            "mount -o remount,rw / 2>&1 | grep -c denied",
        )
    finally:
        host_tmp.unlink()

    lines = seen.split("\n")
    assert lines[0] == "0"
    assert "No such file" in lines[1]
    assert "No such file" in lines[2]
    assert "TOP-SECRET" not in seen and "host tmp file" not in seen
    assert lines[3] == "2"  # /tmp is the environment's own, and empty
    top = set(lines[4:-2])
    assert top <= {"bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "opt",
                   "proc", "root", "run", "sbin", "tmp", "usr", "workspace"}  # fmt: skip


async def test_the_workspace_persists_across_environments(start):
    first = await start(key="ses_persist")
    await bash(first, "echo kept > notes.txt && mkdir -p sub && echo home > ~/h")
    await first.stop()

    second = await start(key="ses_persist")
    seen = await output(second, "cat notes.txt; ls; cat ~/h; pwd")

    assert seen == "kept\nnotes.txt\nsub\nhome\n/workspace\n"


async def test_the_usual_tools_work_inside(start):
    environment = await start()

    seen = await bash(
        environment,
        "python3 -c 'print(6 * 7)' && git --version && whoami && echo ok > f && cat f",
    )

    assert seen["exit_code"] == 0, seen["output"]
    assert str(seen["output"]).startswith("42\ngit version")
    assert str(seen["output"]).endswith("agent\nok\n")


# --- limits --------------------------------------------------------------------------------


@needs_cgroups
async def test_a_fork_bomb_is_contained_and_the_environment_keeps_answering(marker, start):
    environment = await start(limits=dataclasses.replace(SMALL, pids=64))
    started = time.monotonic()

    bomb = await bash(
        environment, f"b() {{ b | b & }}; b; sleep 3; echo {marker}-survived", timeout_s=20
    )
    after = await output(environment, "echo still fine")

    assert time.monotonic() - started < 25
    assert after == "still fine\n"
    assert not bomb["timed_out"]


@needs_cgroups
async def test_a_runaway_allocation_is_killed_and_the_environment_goes_on(start):
    environment = await start(limits=dataclasses.replace(SMALL, memory_mb=128))

    before = environment.oom_kills()
    result = await bash(environment, "python3 -c \"data = b'x' * (512 << 20); print('allocated')\"")
    after = await output(environment, "echo alive")

    assert "allocated" not in str(result["output"])
    assert result["exit_code"] != 0
    assert environment.oom_kills() > before
    assert after == "alive\n"


@needs_cgroups
async def test_cpu_use_is_held_to_the_quota(start):
    environment = await start(limits=dataclasses.replace(SMALL, cpus=0.25))
    script = (
        'python3 -c "import os, time\nend = time.time() + 1.5\nwhile time.time() < end: pass\n'
        'print(os.times().user + os.times().system)"'
    )

    used = float(await output(environment, script))

    assert used < 0.75  # 1.5 s of wall time at a quarter of a core


@needs_disk_quota
async def test_the_disk_quota_stops_a_fill_at_the_size_of_the_runtime(start, host):
    environment = await start(limits=dataclasses.replace(SMALL, disk_mb=64, file_size_mb=1024))

    filled = await bash(
        environment,
        "for i in 1 2 3; do head -c 40000000 /dev/zero > /tmp/big$i.bin || echo FULL; done; "
        "df -k --output=size,used /workspace | tail -1",
    )
    after = await output(environment, "rm /tmp/big*.bin; echo written > w.txt && cat w.txt")

    assert "FULL" in str(filled["output"])
    size_kb, used_kb = (int(n) for n in str(filled["output"]).split("\n")[-2].split())
    assert size_kb <= 64 * 1024 and used_kb <= size_kb
    image = host.workspaces / environment.spec.key / "disk.img"
    assert image.stat().st_blocks * 512 <= 70 << 20  # never more than the quota on the host
    assert after == "written\n"


async def test_a_file_larger_than_the_limit_cannot_be_written(start):
    environment = await start(limits=dataclasses.replace(SMALL, file_size_mb=1))

    result = await bash(environment, "head -c 3000000 /dev/zero > big.bin")

    assert result["exit_code"] != 0


# --- ending things -------------------------------------------------------------------------


async def test_a_timeout_kills_the_calls_whole_tree_including_setsid_children(marker, start):
    environment = await start()

    result = await bash(
        environment,
        f"setsid bash -c 'exec -a {marker} sleep 60' & "
        f"nohup setsid bash -c 'exec -a {marker} sleep 60' & exec -a {marker} sleep 60",
        timeout_s=0.5,
    )
    await asyncio.sleep(0.2)

    assert result["timed_out"] is True
    if CAPS.kill_tree == "cgroup":
        assert pids_matching(marker) == []
    await environment.stop()


async def test_stopping_kills_every_process_background_jobs_and_setsid_ones_included(marker, start):
    environment = await start()
    answer = await environment.call(
        "job_start",
        {"command": f"setsid bash -c 'exec -a {marker} sleep 60' & exec -a {marker} sleep 60"},
        timeout_s=5,
    )
    assert answer.ok
    for _ in range(100):
        if len(pids_matching(marker)) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(pids_matching(marker)) == 2

    await environment.stop()

    assert pids_matching(marker) == []


async def test_a_cancelled_call_stops_the_environment_and_everything_in_it(marker, start):
    environment = await start()
    command = f"(setsid bash -c 'exec -a {marker} sleep 60' &); exec -a {marker} sleep 60"
    call = asyncio.create_task(
        environment.call("bash", {"command": command, "timeout_s": 60}, timeout_s=60)
    )
    await asyncio.sleep(0.5)

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    assert not environment.alive
    assert pids_matching(marker) == []


async def test_a_stalled_tool_server_costs_only_its_own_environment(start):
    environment = await start()
    other = await start()

    freeze = {"command": "sleep 0.3; kill -STOP $PPID"}  # a job's parent is the tool server
    assert (await environment.call("job_start", freeze, timeout_s=5)).ok
    await asyncio.sleep(1)
    stalled = asyncio.create_task(
        environment.call("ls", {"path": ".", "all": False}, timeout_s=0.5)
    )
    answered = await output(other, "echo other still answers")

    assert answered == "other still answers\n"
    with pytest.raises(EnvironmentLost, match="did not answer"):
        await stalled
    assert not environment.alive


async def test_a_killed_tool_server_fails_the_call_clearly_and_stops_the_environment(start):
    environment = await start()

    with pytest.raises(EnvironmentLost, match="stopped"):
        await environment.call("bash", {"command": "kill -9 $PPID; sleep 5", "timeout_s": 10},
                               timeout_s=10)  # fmt: skip

    assert not environment.alive


async def test_a_host_folder_under_tmp_is_seen_inside_and_the_agents_tmp_stays_its_own(
    host, tmp_path
):
    """A checkout under the host's /tmp (its virtualenv, its tools) must work inside."""
    tools = tmp_path / "checkout" / "tools"
    tools.mkdir(parents=True)
    (tools / "hello.sh").write_text("echo from the checkout\n")
    host.extra_mounts = (tools,)
    environment = Environment(EnvironmentSpec(key="run_tmp_checkout"), host)
    await environment.start()
    try:
        seen = await output(environment, f"bash {tools}/hello.sh; touch {tools}/x 2>&1 | wc -l")
    finally:
        await environment.stop()

    assert seen == "from the checkout\n1\n"  # visible, and read-only


@pytest.mark.skipif(not CAPS.seccomp, reason=f"no seccomp filter here: {CAPS.detail}")
async def test_risky_system_calls_are_refused_and_ordinary_programs_still_work(start):
    environment = await start()
    probe_calls = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name in ('keyctl', 'bpf', 'userfaultfd', 'unshare'):\n"
        "    number = SYSCALLS[name]\n"
        "    result = libc.syscall(number, 0, 0, 0, 0, 0)\n"
        "    print(name, result, os.strerror(ctypes.get_errno()))\n"
    )
    numbers = seccomp.ARCHITECTURES[platform.machine()][1]
    script = f"SYSCALLS = {numbers!r}\n{probe_calls}"

    seen = await output(
        environment,
        f"grep Seccomp: /proc/self/status; python3 -c {shlex.quote(script)}; "
        "git init -q repo && echo git-ok",
    )

    lines = seen.splitlines()
    assert lines[0].split() == ["Seccomp:", "2"]
    assert lines[1:5] == [
        f"{name} -1 Operation not permitted" for name in ("keyctl", "bpf", "userfaultfd", "unshare")
    ]
    assert lines[5] == "git-ok"
