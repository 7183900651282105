"""What every environment of one worker shares: the host's capabilities, places and limits.

Built once per worker. It also decides the parts of an environment that follow from its key
and its runtime size alone: its own uid, its resource limits, the files bound over /etc.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from corral.sandbox import launch
from corral.sandbox.capabilities import Capabilities
from corral.sandbox.network import DNS_ADDRESS

__all__ = ["RUNTIME_SIZES", "UID_SPAN", "Host", "Limits", "RuntimeSize", "make_etc"]

RuntimeSize = Literal["small", "medium", "large"]

UID_SPAN = 1 << 24
"""How many uids environments are spread over, above `uid_base`."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one environment (everything in it, together) may use."""

    cpus: float
    """CPU share, enforced as a CFS quota (0.25 = a quarter of one core)."""
    memory_mb: int
    """Memory cgroup limit."""
    pids: int
    """Most processes and threads alive at once (`pids.max`): bounds fork bombs."""
    disk_mb: int
    """Size of the environment's own file system: workspace, home, /tmp and job logs."""
    file_size_mb: int
    """Largest single file (RLIMIT_FSIZE)."""
    open_files: int = 4096
    """Most open file descriptors per process (RLIMIT_NOFILE)."""


RUNTIME_SIZES: dict[str, Limits] = {
    "small": Limits(cpus=0.25, memory_mb=1024, pids=256, disk_mb=2048, file_size_mb=1024),
    "medium": Limits(cpus=1, memory_mb=4096, pids=512, disk_mb=8192, file_size_mb=4096),
    "large": Limits(cpus=2, memory_mb=8192, pids=1024, disk_mb=32768, file_size_mb=8192),
}
"""The runtime-size presets agents and runs choose from."""


@dataclass(kw_only=True)
class Host:
    """The worker's side of every environment it starts."""

    capabilities: Capabilities
    workspaces: Path
    """Where workspaces live on the host, one folder per run or session."""
    uid_base: int = 2_000_000_000
    """Environments run as `uid_base` plus a number derived from their workspace."""
    extra_mounts: tuple[Path, ...] = ()
    """Host folders the operator makes visible, read-only, inside every environment."""
    path: str = field(default_factory=launch.inner_path)
    """PATH of commands inside."""
    toolchains: tuple[Path, ...] = ()
    """Folders of the server's home that PATH points into, bound read-only inside."""
    runtime_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="corral-env-")))
    """Root-only scratch space: generated /etc files and mount tables, never seen inside."""
    own_addresses: list[str] = field(default_factory=list)
    """This host's addresses, which `open` environments may not reach."""

    def __post_init__(self) -> None:
        if not self.toolchains:
            self.toolchains = launch.toolchains(self.path)
        self.workspaces.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.workspaces.stat().st_uid == os.geteuid():
            self.workspaces.chmod(0o700)

    def uid_of(self, key: str) -> int:
        """The environment user of a workspace: stable, so its files stay its own."""
        if not self.capabilities.dedicated_users:
            return os.geteuid()
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        return self.uid_base + digest % UID_SPAN

    def etc(self, *, slirp: bool) -> Path:
        """The folder of files bound over /etc (with slirp4netns's resolver, or without)."""
        folder = self.runtime_dir / ("etc-slirp" if slirp else "etc")
        if not folder.is_dir():
            make_etc(folder, nameserver=DNS_ADDRESS if slirp else None)
        return folder

    def close(self) -> None:
        """Remove the scratch space."""
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


def make_etc(folder: Path, *, nameserver: str | None) -> None:
    """Passwd and group naming the agent's user, an empty file to mask secrets, a resolver."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o755, parents=True)
    agent = launch.INNER_UID
    users = _system_entries(Path("/etc/passwd"), agent)
    users.append(f"agent:x:{agent}:{agent}:agent:{launch.HOME}:/bin/bash")
    groups = _system_entries(Path("/etc/group"), agent)
    groups.append(f"agent:x:{agent}:")
    (partial / "passwd").write_text("\n".join(users) + "\n")
    (partial / "group").write_text("\n".join(groups) + "\n")
    (partial / "empty").write_text("")
    if nameserver is not None:
        (partial / "resolv.conf").write_text(f"nameserver {nameserver}\n")
    for path in partial.iterdir():
        path.chmod(0o644)
    os.rename(partial, folder)


def _system_entries(path: Path, agent: int) -> list[str]:
    """The system accounts of an /etc/passwd or /etc/group file (ids below 1000, and nobody)."""
    kept: list[str] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return kept
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            number = int(fields[2])
            if number != agent and (number < 1000 or number == 65534):
                kept.append(line)
    return kept
