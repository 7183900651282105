"""The environment section: how fast sandboxes start and answer, and what an idle one costs.

Real environments (`corral.sandbox`) run in this very process, not behind `corral serve`, so the
figures are the sandbox machinery's alone: no HTTP, queue or model around them. The section
needs a host that enforces the sandbox, and root; anywhere else it says why it was skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cpu
from benchmarks import environment_usage as usage
from benchmarks.config import Config
from benchmarks.loadgen import Recorder, RequestFailed
from benchmarks.report import percentiles
from corral.sandbox import disk
from corral.sandbox.capabilities import Capabilities, NetworkMode, probe
from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import (
    Environment,
    EnvironmentLost,
    EnvironmentSpec,
    EnvironmentUnavailable,
)
from corral.sandbox.host import Host
from corral.sandbox.network import host_addresses

NAME = "environments"
"""The section's name on the command line (`--only environments`) and in the JSON report."""
NETWORK_MODES: tuple[NetworkMode, ...] = ("none", "limited", "open")
DEFAULT_NETWORK: NetworkMode = EgressPolicy().mode
"""A run's default networking (`open`): the calls and the idle memory are measured with it."""
WARMUP_CYCLES = 1
"""Untimed fresh start and restart in each networking mode before its timed ones, so that
one-time costs (files generated for /etc, binaries read from disk) are not counted."""
WARMUP_CALLS = 10
CALL_GAP_S = 0.05
"""Pause after each timed call, as an agent's calls are spaced by its model's turns. Back to
back, `bash true` calls would exhaust a small environment's CPU quota (0.25 of a core: 25 ms
of CPU every 100 ms) and the figure would measure the quota, not the call."""
CALL_TIMEOUT_S = 60.0
SMALL_FILE = b"the quick brown fox jumps over the lazy dog, and back again\n" * 20
"""The file the `read` calls read: 20 lines, 1.2 KB."""
CALLS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("read", "read", {"path": "small.txt", "offset": 1, "limit": 2000}),
    ("bash_true", "bash", {"command": "true", "timeout_s": CALL_TIMEOUT_S}),
)
"""Each timed call: its name in the figures, the tool server's op and the request."""
SCRATCH_PARENT = Path("/var/tmp")
"""Where the temporary workspaces go: on disk, where a tmpfs /tmp would count their files as
memory."""
BACKGROUND_SAMPLE_S = 1.0
"""How long the machine is watched, before the section, for CPU used by other processes."""


@dataclass(kw_only=True)
class EnvironmentSection:
    """The figures of the environment section, or why it did not run."""

    skipped: str | None = None
    """Why the section did not run; None when it ran."""
    sandbox: str | None = None
    """The sandbox probe's one-line description of this host."""
    limits: dict[str, Any] | None = None
    """What each environment may use (the runtime size `small`, a run's default)."""
    figures: dict[str, Any] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    process_cpu_s: float = 0.0
    """CPU of this process (the worker's side of every environment), all threads."""
    machine_cpu_s: float = 0.0
    """CPU all cores spent busy during the section, whoever spent it."""
    other_cpu_pct_before: float | None = None
    """CPU other processes used, in percent of one core, while the section waited to start."""

    @property
    def ok(self) -> bool:
        """Whether every start and call succeeded (a skipped section is not a failure)."""
        return self.errors == 0

    @property
    def summary(self) -> str:
        """One line for the progress output."""
        if self.skipped is not None:
            return f"skipped: {self.skipped}"
        starts, calls = self.figures["starts"], self.figures["calls"]
        idle = self.figures["idle"]
        parts = [
            f"start p50 {_p50(starts[DEFAULT_NETWORK]['fresh_ms'])} ms (fresh, "
            f"{DEFAULT_NETWORK}), {_p50(starts[DEFAULT_NETWORK]['restart_ms'])} ms (existing)",
            f"read p50 {_p50(calls['read_ms'], 2)} ms",
            f"bash true p50 {_p50(calls['bash_true_ms'], 2)} ms",
        ]
        if idle.get("pss_mib_per_environment") is not None:
            parts.append(f"{idle['pss_mib_per_environment']:.1f} MiB PSS per idle environment")
        return "; ".join(parts) + (f"; {self.errors} errors" if self.errors else "")

    def as_dict(self) -> dict[str, Any]:
        """Every figure, for the JSON report."""
        return {"name": NAME, **asdict(self), "ok": self.ok}


def _p50(series: dict[str, Any], digits: int = 1) -> str:
    return "n/a" if series["p50"] is None else f"{series['p50']:.{digits}f}"


def unavailable_reason(capabilities: Capabilities) -> str | None:
    """Why environments cannot be measured on this host, or None when they can."""
    if not capabilities.enforced:
        return f"the sandbox cannot be enforced on this host: {capabilities.detail}"
    if os.geteuid() != 0 or not capabilities.dedicated_users:
        return "environments are measured as root only (own uid, cgroup, disk and network each)"
    return None


def measure_environments(
    config: Config, capabilities: Capabilities | None = None
) -> EnvironmentSection:
    """Start, call and keep idle real environments in this process; their figures.

    Every environment is stopped and the temporary workspaces are removed before this returns,
    also when it fails or is interrupted (Ctrl-C).
    """
    capabilities = capabilities if capabilities is not None else probe()
    reason = unavailable_reason(capabilities)
    if reason is not None:
        return EnvironmentSection(skipped=reason)
    parent = SCRATCH_PARENT if SCRATCH_PARENT.is_dir() else None
    workspaces = Path(tempfile.mkdtemp(prefix="corral-bench-workspaces-", dir=parent))
    fleet = _Fleet(Host(capabilities=capabilities, workspaces=workspaces))
    try:
        return asyncio.run(_measure(config, fleet))
    finally:
        fleet.kill_left()
        shutil.rmtree(workspaces, ignore_errors=True)


async def _measure(config: Config, fleet: _Fleet) -> EnvironmentSection:
    section = EnvironmentSection(
        sandbox=fleet.host.capabilities.detail, limits=asdict(EnvironmentSpec(key="-").limits)
    )
    section.other_cpu_pct_before = await _background_cpu_pct()
    fleet.host.own_addresses = await host_addresses()
    recorder = Recorder()
    started, process_cpu, machine_cpu = time.monotonic(), time.process_time(), cpu.machine_busy_s()
    try:
        for mode in NETWORK_MODES:
            await _starts(fleet, mode, config.environment_starts, recorder)
        calls = await _calls(fleet, config.environment_calls, recorder)
        idle = await _idle(fleet, config, recorder)
    finally:
        await fleet.stop_all()
    section.wall_s = time.monotonic() - started
    section.process_cpu_s = time.process_time() - process_cpu
    section.machine_cpu_s = cpu.machine_busy_s() - machine_cpu
    series = recorder.samples_ms
    section.figures = {
        "starts": {
            mode: {
                f"{kind}_ms": percentiles(series.get(f"{mode}.{kind}", []))
                for kind in ("fresh", "restart", "stop")
            }
            for mode in NETWORK_MODES
        },
        "stop_ms": percentiles([ms for m in NETWORK_MODES for ms in series.get(f"{m}.stop", [])]),
        "warmup_cycles": WARMUP_CYCLES,
        "calls": calls,
        "idle": idle,
    }
    section.errors, section.error_samples = recorder.errors, recorder.error_samples
    return section


async def _background_cpu_pct() -> float:
    """CPU used by other processes while this one sleeps, in percent of one core."""
    machine, own = cpu.machine_busy_s(), time.process_time()
    await asyncio.sleep(BACKGROUND_SAMPLE_S)
    others = cpu.machine_busy_s() - machine - (time.process_time() - own)
    return max(0.0, 100 * others / BACKGROUND_SAMPLE_S)


# --- starting -------------------------------------------------------------------------------


async def _starts(fleet: _Fleet, mode: NetworkMode, count: int, recorder: Recorder) -> None:
    """Start each workspace twice, stopping it in between: fresh, then existing."""
    for index in range(WARMUP_CYCLES + count):
        key = _new_key()
        with _catching(recorder, f"start ({mode})"):
            for kind in ("fresh", "restart"):
                environment, start_ms = await fleet.start(mode, key)
                stop_ms = await fleet.stop(environment)
                if index >= WARMUP_CYCLES:
                    recorder.sample(f"{mode}.{kind}", start_ms)
                    recorder.sample(f"{mode}.stop", stop_ms)
        await fleet.remove_workspace(key)


# --- calls ----------------------------------------------------------------------------------


async def _calls(fleet: _Fleet, count: int, recorder: Recorder) -> dict[str, Any]:
    """Time `read` and `bash true` calls in one warm environment, one at a time."""
    cpu_ms_per_call: dict[str, float | None] = {}
    throttled: int | None = None
    with _catching(recorder, "calls"):
        environment, _ = await fleet.start(DEFAULT_NETWORK)
        try:
            await _call(environment, "write", {"path": "small.txt"}, payload=SMALL_FILE)
            throttled_before = usage.cpu_stat(environment, "nr_throttled")
            for name, op, request in CALLS:
                cpu_ms_per_call[name] = await _time_calls(
                    environment, name, op, request, count, recorder
                )
            throttled = _difference(throttled_before, usage.cpu_stat(environment, "nr_throttled"))
        finally:
            await fleet.stop(environment)
            await fleet.remove_workspace(environment.spec.key)
    return {
        **{f"{name}_ms": percentiles(recorder.samples_ms.get(name, [])) for name, _, _ in CALLS},
        "network": DEFAULT_NETWORK,
        "file_bytes": len(SMALL_FILE),
        "gap_ms": 1000 * CALL_GAP_S,
        "warmup_calls": WARMUP_CALLS,
        "environment_cpu_ms_per_call": cpu_ms_per_call,
        "throttled_periods": throttled,
    }


async def _time_calls(
    environment: Environment,
    name: str,
    op: str,
    request: dict[str, Any],
    count: int,
    recorder: Recorder,
) -> float | None:
    """Time `count` calls after a warm-up; the environment's CPU per call, in milliseconds."""
    for _ in range(WARMUP_CALLS):
        await _call(environment, op, request)
    usage_before = usage.cpu_stat(environment, "usage_usec")
    for _ in range(count):
        with _catching(recorder, name):
            started = time.perf_counter()
            await _call(environment, op, request)
            recorder.sample(name, 1000 * (time.perf_counter() - started))
        if not environment.alive:
            raise EnvironmentLost(f"the environment stopped during the {name} calls")
        await asyncio.sleep(CALL_GAP_S)
    spent = _difference(usage_before, usage.cpu_stat(environment, "usage_usec"))
    return None if spent is None or not count else spent / 1000 / count


async def _call(
    environment: Environment, op: str, request: dict[str, Any], payload: bytes = b""
) -> None:
    """One request that must succeed (and a command that must exit 0)."""
    answer = await environment.call(op, request, timeout_s=CALL_TIMEOUT_S, payload=payload)
    if not answer.ok:
        raise RequestFailed(f"{op} failed: {answer.error}")
    if op == "bash" and answer.number("exit_code") != 0:
        raise RequestFailed(f"bash exited {answer.number('exit_code')}: {answer.text('output')}")


def _difference(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


# --- idle memory ----------------------------------------------------------------------------


async def _idle(fleet: _Fleet, config: Config, recorder: Recorder) -> dict[str, Any]:
    """Memory of `idle_environments` environments alive at once, doing nothing."""
    await asyncio.sleep(config.idle_settle_s)  # the kernel finishes tearing down earlier ones
    meminfo, (rss_mib, _) = cpu.meminfo_kib(), cpu.process_memory_mb(os.getpid())
    alive: list[Environment] = []
    for _ in range(config.idle_environments):
        with _catching(recorder, "idle start"):
            environment, start_ms = await fleet.start(DEFAULT_NETWORK)
            alive.append(environment)
            recorder.sample("crowded_start", start_ms)
    await asyncio.sleep(config.idle_settle_s)
    meminfo_change = {name: kib - meminfo[name] for name, kib in cpu.meminfo_kib().items()}
    rss_growth_mib = cpu.process_memory_mb(os.getpid())[0] - rss_mib
    figures = usage.memory_of(alive)
    for environment in alive:
        await fleet.stop(environment)
    for environment in alive:
        await fleet.remove_workspace(environment.spec.key)
    count = len(alive)
    return {
        "environments": count,
        "network": DEFAULT_NETWORK,
        "settle_s": config.idle_settle_s,
        **figures,
        "mem_available_drop_mib_per_environment": (
            -meminfo_change["MemAvailable"] / 1024 / count if count else None
        ),
        "meminfo_change_mib_per_environment": {
            name: meminfo_change[name] / 1024 / count if count else None
            for name in usage.MEMINFO_FIELDS
            if name in meminfo_change
        },
        "process_rss_growth_mib_per_environment": rss_growth_mib / count if count else None,
        "start_ms": percentiles(recorder.samples_ms.get("crowded_start", [])),
    }


# --- the environments of the section --------------------------------------------------------


def _new_key() -> str:
    return f"run_bench_{secrets.token_hex(6)}"


@contextmanager
def _catching(recorder: Recorder, what: str) -> Iterator[None]:
    """Count a failed start or call as an error instead of ending the section."""
    try:
        yield
    except (EnvironmentUnavailable, EnvironmentLost, RequestFailed) as error:
        recorder.error(f"{what}: {error}")


class _Fleet:
    """The section's environments: each is tracked from before its start until it has stopped."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.running: list[Environment] = []

    async def start(self, mode: NetworkMode, key: str | None = None) -> tuple[Environment, float]:
        """A started environment, and how long its start took in milliseconds."""
        spec = EnvironmentSpec(key=key or _new_key(), network=EgressPolicy(mode=mode))
        environment = Environment(spec, self.host)
        self.running.append(environment)
        started = time.perf_counter()
        try:
            await environment.start()
        except BaseException:
            self.running.remove(environment)  # a failed start has stopped it already
            raise
        return environment, 1000 * (time.perf_counter() - started)

    async def stop(self, environment: Environment) -> float:
        """Stop one environment; how long that took in milliseconds."""
        started = time.perf_counter()
        await environment.stop()
        self.running.remove(environment)
        return 1000 * (time.perf_counter() - started)

    async def stop_all(self) -> None:
        for environment in list(self.running):
            await self.stop(environment)

    async def remove_workspace(self, key: str) -> None:
        await asyncio.to_thread(disk.remove, self.host.workspaces / key)

    def kill_left(self) -> None:
        """Kill what an interrupted `stop_all` left running, and release the host's scratch.

        Synchronous, for after the event loop is gone (a second Ctrl-C during the stops).
        slirp4netns processes exit by themselves once this process has exited.
        """
        for environment in self.running:
            environment.kill_now()
        deadline = time.monotonic() + 5.0
        for environment in self.running:
            group = environment.group
            while group is not None and not group.remove_now() and time.monotonic() < deadline:
                time.sleep(0.01)
        self.running.clear()
        self.host.close()
