"""The sandbox against real processes: isolation, limits, whole-tree kills, jobs, bounded output."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.tools import cgroups
from corral.tools.sandbox import (
    RUNTIME_SIZES,
    Box,
    Capabilities,
    Limits,
    Sandbox,
    SandboxUnsupported,
    probe,
)

CAPS = probe()
needs_bwrap = pytest.mark.skipif(
    CAPS.tier != "bwrap", reason=f"bubblewrap is not usable on this host ({CAPS.detail})"
)
needs_cgroups = pytest.mark.skipif(
    CAPS.cgroups is None, reason=f"cgroups are not writable on this host ({CAPS.detail})"
)
needs_netns = pytest.mark.skipif(
    not CAPS.netns, reason=f"network namespaces cannot be made here ({CAPS.detail})"
)

SMALL = RUNTIME_SIZES["small"]
PROCESS_TIER = dataclasses.replace(
    CAPS,
    tier="process",
    kill_tree="cgroup" if CAPS.cgroups else "process_group",
    detail="process tier for tests",
)
"""The fallback tier, with this host's cgroups when it has them."""

TIERS = [
    pytest.param(CAPS, id="bwrap", marks=needs_bwrap),
    pytest.param(PROCESS_TIER, id="process+cgroups", marks=needs_cgroups),
]
"""The tiers that kill a whole tree, setsid children included."""


def _cgroup_dirs() -> set[Path]:
    if CAPS.layout is None:
        return set()
    return {
        path
        for parent in CAPS.layout.parents
        for path in parent.glob(f"{cgroups.PREFIX}{os.getpid()}-*")
        if path.is_dir()
    }


@pytest.fixture(autouse=True)
def _no_cgroups_left() -> Iterator[None]:
    """Every test must remove the cgroups it made (other processes' groups are not ours)."""
    before = _cgroup_dirs()
    yield
    assert _cgroup_dirs() - before == set()


def _pids_matching(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique string to put on command lines; any process still carrying it fails the test."""
    token = f"corral_marker_{secrets.token_hex(6)}"
    yield token
    leftovers = _pids_matching(token)
    for pid in leftovers:  # clean up before failing, so one leak does not spoil other tests
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert leftovers == [], f"processes outlived their command: {leftovers}"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A stand-in for the server's data directory, holding a secret.

    It lies outside /tmp (which the sandbox replaces anyway), so masking is what hides it.
    """
    path = Path(tempfile.mkdtemp(prefix="corral-test-data-", dir="/var/tmp"))
    (path / "secret.key").write_text("TOP-SECRET-VALUE")
    yield path
    shutil.rmtree(path)


@pytest.fixture
def make_box(tmp_path: Path, data_dir: Path) -> Callable[..., Box]:
    def make(**overrides: Any) -> Box:
        root = tmp_path / "run"
        for name in ("workspace", "home", "tmp"):
            (root / name).mkdir(parents=True, exist_ok=True)
        values: dict[str, Any] = {
            "workspace": root / "workspace",
            "home": root / "home",
            "tmp": root / "tmp",
            "env": {"GREETING": "hello from the box"},
            "limits": SMALL,
            "hidden": (data_dir,),
        }
        return Box(**{**values, **overrides})

    return make


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(CAPS)


# --- commands, environment, workspace -----------------------------------------------------


@pytest.mark.parametrize("caps", [CAPS, PROCESS_TIER], ids=["probed", "process"])
async def test_output_interleaves_stdout_and_stderr_and_exit_code_is_reported(caps, make_box):
    result = await Sandbox(caps).run(
        "echo one; echo two >&2; echo three; exit 3", make_box(), timeout_s=10
    )

    assert result.output == "one\ntwo\nthree\n"
    assert (result.exit_code, result.timed_out, result.killed) == (3, False, None)


@pytest.mark.parametrize("caps", [CAPS, PROCESS_TIER], ids=["probed", "process"])
async def test_commands_see_the_box_variables_home_tmp_and_workspace_as_cwd(caps, make_box):
    box = make_box()
    result = await Sandbox(caps).run('echo "$GREETING|$HOME|$TMPDIR|$(pwd)"', box, timeout_s=10)

    tmp = "/tmp" if caps.tier == "bwrap" else str(box.tmp)
    assert result.output == f"hello from the box|{box.home}|{tmp}|{box.workspace}\n"


async def test_the_usual_tools_work_inside(sandbox, make_box):
    result = await sandbox.run(
        "python3 -c 'print(6 * 7)' && git --version && ls / > /dev/null && echo ok",
        make_box(),
        timeout_s=30,
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("42\ngit version")


async def test_stdin_is_passed_to_the_command(sandbox, make_box):
    result = await sandbox.run("tr a-z A-Z", make_box(), timeout_s=10, stdin="shout\n")

    assert result.output == "SHOUT\n"


async def test_workspace_is_writable_and_its_files_persist_between_calls(sandbox, make_box):
    box = make_box()

    first = await sandbox.run("echo kept > notes.txt && mkdir -p sub", box, timeout_s=10)
    second = await sandbox.run("cat notes.txt && ls", box, timeout_s=10)

    assert first.exit_code == 0, first.output
    assert second.output == "kept\nnotes.txt\nsub\n"
    assert (box.workspace / "notes.txt").read_text() == "kept\n"


# --- isolation ------------------------------------------------------------------------------


@needs_bwrap
async def test_writing_outside_the_workspace_fails(sandbox, make_box, data_dir):
    name = f"corral-escape-{secrets.token_hex(4)}"
    targets = [Path("/etc") / name, Path("/usr") / name, data_dir / name, Path.home() / name]
    script = "; ".join(f"touch {target} 2>/dev/null && echo WROTE {target}" for target in targets)

    result = await sandbox.run(script + "; true", make_box(), timeout_s=10)

    assert "WROTE" not in result.output
    assert [target for target in targets if target.exists()] == []


@needs_bwrap
async def test_the_data_dir_and_the_servers_home_are_hidden(sandbox, make_box, data_dir):
    result = await sandbox.run(
        f"ls -A {data_dir}; echo ---; cat {data_dir}/secret.key; echo ---; ls -A {Path.home()}",
        make_box(),
        timeout_s=10,
    )

    listing, secret, home = result.output.split("---\n")
    assert listing == ""
    assert "No such file" in secret
    assert "TOP-SECRET-VALUE" not in result.output
    # Only the toolchains the PATH needs stay visible in the server's home.
    assert set(home.split()) <= {".pyenv", ".cargo", ".rustup", ".nvm", ".local"}


@needs_bwrap
async def test_a_hidden_file_reads_as_empty(sandbox, make_box, data_dir):
    secret = data_dir / "secret.key"
    box = make_box(hidden=(secret,))

    result = await sandbox.run(f"wc -c < {secret}; wc -c < /etc/shadow", box, timeout_s=10)

    assert result.output.split() == ["0", "0"]


@needs_bwrap
async def test_capabilities_are_dropped_so_the_root_cannot_be_remounted(sandbox, make_box):
    result = await sandbox.run(
        "grep CapEff /proc/self/status; mount -o remount,rw,bind / 2>&1 || echo REFUSED; "
        "touch /etc/corral-remount-test 2>/dev/null || echo STILL-READ-ONLY",
        make_box(),
        timeout_s=10,
    )

    assert "CapEff:\t0000000000000000" in result.output
    assert "REFUSED" in result.output
    assert "STILL-READ-ONLY" in result.output
    assert not Path("/etc/corral-remount-test").exists()


@needs_bwrap
async def test_host_processes_are_invisible(sandbox, make_box):
    result = await sandbox.run(
        f"kill -0 {os.getpid()} 2>/dev/null && echo SEEN; ls /proc | grep -c '^[0-9]'",
        make_box(),
        timeout_s=10,
    )

    assert "SEEN" not in result.output
    assert int(result.output.split()[-1]) < 10  # bwrap's init, bash, ls, grep


@needs_bwrap
async def test_network_none_leaves_only_loopback(sandbox, make_box):
    result = await sandbox.run(
        "tail -n +3 /proc/net/dev | cut -d: -f1", make_box(network="none"), timeout_s=10
    )

    assert result.output.split() == ["lo"]


@needs_bwrap
@needs_netns
async def test_network_netns_enters_the_named_namespace(sandbox, make_box):
    name = f"corral-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        expected = os.stat(f"/run/netns/{name}").st_ino
        result = await sandbox.run(
            "readlink /proc/self/ns/net", make_box(network="netns", netns=name), timeout_s=10
        )
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)

    assert result.output == f"net:[{expected}]\n"


# --- limits -----------------------------------------------------------------------------------


@needs_cgroups
@pytest.mark.parametrize("caps", TIERS)
async def test_a_fork_bomb_is_contained_and_the_call_returns(caps, make_box, marker):
    limits = dataclasses.replace(SMALL, pids=64)
    sandbox = Sandbox(caps)
    started = time.monotonic()

    result = await sandbox.run(
        f"b() {{ b | b & }}; b; sleep 3; echo {marker}-survived",
        make_box(limits=limits),
        timeout_s=20,
    )
    after = await sandbox.run("echo still fine", make_box(), timeout_s=10)

    assert time.monotonic() - started < 20
    assert not result.timed_out
    assert "fork: retry" in result.output or "Resource temporarily unavailable" in result.output
    assert after.output == "still fine\n"


@needs_cgroups
@pytest.mark.parametrize("caps", TIERS)
async def test_a_runaway_allocation_is_oom_killed(caps, make_box):
    limits = dataclasses.replace(SMALL, memory_mb=128)
    script = "python3 -c \"data = b'x' * (256 << 20); print('allocated')\""

    result = await Sandbox(caps).run(script, make_box(limits=limits), timeout_s=30)

    assert "allocated" not in result.output
    assert result.killed == "memory"
    assert result.exit_code != 0


@needs_cgroups
async def test_cpu_use_is_held_to_the_quota(sandbox, make_box):
    limits = dataclasses.replace(SMALL, cpus=0.25)
    script = (
        'python3 -c "import os, time\nend = time.time() + 1.5\nwhile time.time() < end: pass\n'
        'print(os.times().user + os.times().system)"'
    )

    result = await sandbox.run(script, make_box(limits=limits), timeout_s=30)

    assert float(result.output) < 0.75  # 1.5 s of wall time at a quarter of a core


@pytest.mark.parametrize("caps", [CAPS, PROCESS_TIER], ids=["probed", "process"])
async def test_files_larger_than_the_limit_cannot_be_written(caps, make_box):
    box = make_box(limits=dataclasses.replace(SMALL, file_size_mb=1))

    result = await Sandbox(caps).run("head -c 3000000 /dev/zero > big.bin", box, timeout_s=10)

    assert result.exit_code != 0
    assert (box.workspace / "big.bin").stat().st_size == 1 << 20


# --- killing whole trees ------------------------------------------------------------------------


@pytest.mark.parametrize("caps", TIERS)
async def test_timeout_kills_the_tree_including_setsid_children(caps, make_box, marker):
    command = f"setsid nohup bash -c 'sleep 1000; : {marker}' >/dev/null 2>&1 & sleep 1000"

    result = await Sandbox(caps).run(command, make_box(), timeout_s=1.0)

    assert (result.timed_out, result.killed, result.exit_code) == (True, "timeout", None)
    assert result.duration_s < 2.0
    assert _pids_matching(marker) == []


@pytest.mark.parametrize("caps", TIERS)
async def test_cancelling_the_call_kills_the_tree_and_reraises(caps, make_box, marker):
    box = make_box()
    command = (
        f"setsid nohup bash -c 'touch started; sleep 1000; : {marker}' >/dev/null 2>&1 & sleep 1000"
    )
    call = asyncio.create_task(Sandbox(caps).run(command, box, timeout_s=60))
    await _until((box.workspace / "started").exists)

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    assert _pids_matching(marker) == []


async def test_process_group_kill_ends_a_plain_tree_without_cgroups(make_box, marker):
    caps = Capabilities(
        tier="process",
        cgroups=None,
        kill_tree="process_group",
        netns=False,
        detail="process group only",
    )

    result = await Sandbox(caps).run(
        f"bash -c 'sleep 1000; : {marker}' & wait", make_box(), timeout_s=0.5
    )

    assert result.timed_out
    assert _pids_matching(marker) == []


# --- background jobs ----------------------------------------------------------------------------


async def test_a_job_is_read_incrementally_by_offset(sandbox, make_box):
    job = await sandbox.start("for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done", make_box())
    await _until(lambda: job.log.exists() and job.log.read_text() != "")

    first, offset, first_running, _ = await job.read(0)
    await job.wait()
    rest, final_offset, running, exit_code = await job.read(offset)
    again, same_offset, _, _ = await job.read(final_offset)

    assert first_running
    assert first.startswith("line 1\n") and "line 5" not in first
    assert first + rest == "".join(f"line {i}\n" for i in range(1, 6))
    assert (running, exit_code) == (False, 0)
    assert (again, same_offset) == ("", final_offset)


async def test_reading_a_job_in_small_pieces_never_splits_a_character(sandbox, make_box):
    job = await sandbox.start("printf 'é€😀x'", make_box())
    await job.wait()

    pieces, offset = [], 0
    while True:
        text, offset, _, _ = await job.read(offset, max_chars=3)
        if not text:
            break
        pieces.append(text)

    assert "".join(pieces) == "é€😀x"
    assert "\ufffd" not in "".join(pieces)


async def test_a_character_still_being_written_is_not_handed_out_half(sandbox, make_box):
    job = await sandbox.start(r"printf 'a\xf0\x9f'; sleep 0.5; printf '\x98\x80b'", make_box())
    await _until(lambda: job.log.exists() and job.log.stat().st_size == 3)

    early, offset, running, _ = await job.read(0)
    await job.wait()
    late, _, _, _ = await job.read(offset)

    assert (early, offset, running) == ("a", 1, True)
    assert late == "\U0001f600b"


@pytest.mark.parametrize("caps", TIERS)
async def test_killing_a_job_ends_its_whole_tree(caps, make_box, marker):
    sandbox = Sandbox(caps)
    box = make_box()
    job = await sandbox.start(
        f"setsid nohup bash -c 'touch started; sleep 1000; : {marker}' >/dev/null 2>&1 & "
        "echo up; sleep 1000",
        box,
    )
    await _until((box.workspace / "started").exists)

    await job.kill()

    text, _, running, exit_code = await job.read()
    assert (text, running, exit_code) == ("up\n", False, None)
    assert _pids_matching(marker) == []


@pytest.mark.parametrize("caps", TIERS)
async def test_closing_the_box_kills_every_job_still_running(caps, make_box, marker):
    sandbox = Sandbox(caps)
    box = make_box()
    jobs = [
        await sandbox.start(f"bash -c 'touch one; sleep 1000; : {marker}'", box),
        await sandbox.start(f"setsid bash -c 'touch two; sleep 1000; : {marker}' & wait", box),
        await sandbox.start("echo done", box),
    ]
    await _until(lambda: {"one", "two"} <= {p.name for p in box.workspace.iterdir()})

    await sandbox.close_box(box)

    assert [job.is_running for job in jobs] == [False, False, False]
    assert _pids_matching(marker) == []
    assert sandbox.jobs(box) == []


async def test_job_output_stops_at_its_bound(sandbox, make_box):
    job = await sandbox.start(
        "head -c 100000 /dev/zero | tr '\\0' a", make_box(), max_output_bytes=1000
    )

    assert await job.wait() == 0
    text, _, _, _ = await job.read()
    assert text.startswith("a" * 1000 + "\n[... output limit of 1000 bytes reached")
    assert job.log.stat().st_size < 1200


# --- bounded output ----------------------------------------------------------------------------


async def test_long_output_keeps_head_and_tail_around_a_marker(sandbox, make_box):
    result = await sandbox.run("seq 1 100000", make_box(), timeout_s=30, max_output_chars=1000)

    total = sum(len(f"{n}\n") for n in range(1, 100001))
    assert result.output.startswith("1\n2\n3\n")
    assert result.output.endswith("99999\n100000\n")
    assert f"[... output truncated: {total - 1000} of {total} characters omitted ...]" in (
        result.output
    )
    assert len(result.output) < 1100


async def test_output_at_the_bound_is_kept_whole(sandbox, make_box):
    result = await sandbox.run(
        "printf '%01000d' 0", make_box(), timeout_s=10, max_output_chars=1000
    )

    assert result.output == "0" * 1000


# --- probe and wrapped programs -----------------------------------------------------------------


def test_probe_reports_what_it_found_and_is_cached():
    caps = probe()

    assert probe() is caps
    assert json.loads(json.dumps(caps.as_dict())) == {
        "tier": caps.tier,
        "cgroups": caps.cgroups,
        "kill_tree": caps.kill_tree,
        "netns": caps.netns,
        "detail": caps.detail,
    }
    assert (caps.tier == "bwrap") == caps.detail.startswith("bubblewrap ")
    assert (caps.cgroups is None) == ("no cgroups" in caps.detail)


async def test_a_wrapped_program_runs_in_the_box_and_its_cgroup_goes_with_the_box(
    sandbox, make_box
):
    box = make_box()
    argv = sandbox.wrap(["bash", "-c", 'pwd; echo "$GREETING"'], box)

    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await proc.communicate()
    await sandbox.close_box(box)

    assert stdout.decode() == f"{box.workspace}\nhello from the box\n"


async def test_a_network_the_host_cannot_enforce_is_refused(make_box):
    caps = dataclasses.replace(CAPS, netns=False)
    box = make_box(network="netns", netns="corral-test-missing")

    with pytest.raises(SandboxUnsupported):
        await Sandbox(caps).run("true", box, timeout_s=10)


def test_runtime_sizes_grow_from_small_to_large():
    small, medium, large = (RUNTIME_SIZES[size] for size in ("small", "medium", "large"))

    assert small == Limits(cpus=0.25, memory_mb=1024, pids=256, file_size_mb=1024)
    assert small.memory_mb < medium.memory_mb < large.memory_mb
    assert small.cpus < medium.cpus < large.cpus


async def _until(condition: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
