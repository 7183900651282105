"""Real environments for the sandbox tests: bubblewrap, cgroups, loop disks, namespaces.

They need root and bubblewrap (`.ci/run` installs it); without them they are skipped, with the
probe's own explanation as the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.sandbox import cgroups
from corral.sandbox.capabilities import probe
from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import Environment, EnvironmentSpec
from corral.sandbox.host import Host
from corral.sandbox.network import host_addresses

CAPS = probe()
needs_sandbox = pytest.mark.skipif(
    not CAPS.enforced, reason=f"the sandbox cannot be enforced here: {CAPS.detail}"
)
needs_root = pytest.mark.skipif(
    not CAPS.dedicated_users, reason=f"needs the server to be root: {CAPS.detail}"
)
needs_cgroups = pytest.mark.skipif(
    CAPS.cgroups is None, reason=f"cgroups are not writable here: {CAPS.detail}"
)
needs_disk_quota = pytest.mark.skipif(
    not CAPS.disk_quota, reason=f"loop-mounted disks are not available here: {CAPS.detail}"
)
needs_slirp = pytest.mark.skipif(
    CAPS.open_network != "slirp4netns", reason=f"no slirp4netns and nftables here: {CAPS.detail}"
)

StartEnvironment = Callable[..., Awaitable[Environment]]


def pids_matching(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique string to put on command lines; any process still carrying it fails the test."""
    token = f"corral_marker_{secrets.token_hex(6)}"
    yield token
    leftovers = pids_matching(token)
    for pid in leftovers:  # clean up before failing, so one leak does not spoil other tests
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert leftovers == [], f"processes outlived their environment: {leftovers}"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A stand-in for the server's data directory, holding a secret, outside /tmp."""
    path = Path(tempfile.mkdtemp(prefix="corral-test-data-", dir="/var/tmp"))
    (path / "secret.key").write_text("TOP-SECRET-VALUE")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _our_groups() -> set[Path]:
    if CAPS.layout is None:
        return set()
    return {
        path
        for parent in CAPS.layout.parents
        for path in parent.glob(f"{cgroups.PREFIX}{os.getpid()}-*")
        if path.is_dir()
    }


@pytest.fixture
async def host(data_dir: Path) -> AsyncIterator[Host]:
    """The worker side of environments, with workspaces inside the stand-in data dir."""
    before = _our_groups()
    workspaces = data_dir / "workspaces"
    workspaces.mkdir()
    made = Host(capabilities=CAPS, workspaces=workspaces, own_addresses=await host_addresses())
    yield made
    made.close()
    assert _our_groups() - before == set(), "an environment left its cgroup behind"


@pytest.fixture
async def start(host: Host) -> AsyncIterator[StartEnvironment]:
    """Start environments for a test; all are stopped at its end."""
    started: list[Environment] = []

    async def start_one(key: str | None = None, **fields: Any) -> Environment:
        fields.setdefault("network", EgressPolicy(mode="none"))
        spec = EnvironmentSpec(key=key or f"run_{secrets.token_hex(6)}", **fields)
        environment = Environment(spec, host)
        started.append(environment)
        await environment.start()
        return environment

    yield start_one
    for environment in started:
        await environment.stop()


async def bash(environment: Environment, command: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Run `command` in the environment; the answer's fields (output, exit_code...)."""
    answer = await environment.call(
        "bash", {"command": command, "timeout_s": timeout_s}, timeout_s=timeout_s
    )
    assert answer.ok, answer.error
    return answer.fields


async def output(environment: Environment, command: str, timeout_s: float = 30.0) -> str:
    return str((await bash(environment, command, timeout_s))["output"])
