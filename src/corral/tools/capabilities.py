"""What isolation this host can enforce, found once by trying rather than assumed.

Probing runs real commands (bubblewrap, `ip netns`) and reads the cgroup mounts; it decides no
policy, and a weaker `Capabilities` than the probed one may be handed to a sandbox on purpose.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Literal

from corral.tools import cgroups
from corral.tools.cgroups import Layout

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What isolation this host can enforce, as found by `probe`."""

    tier: Literal["bwrap", "process"]
    """`bwrap`: read-only system view, no capabilities, own PID namespace; `process`: none of it."""
    cgroups: Literal["v1", "v2"] | None
    """Which cgroup layout enforces CPU, memory and pids limits; None when they are not enforced."""
    kill_tree: Literal["pid_namespace", "cgroup", "process_group"]
    """How a command's whole tree is ended; `process_group` misses children that call setsid."""
    netns: bool
    """Whether per-run network namespaces can be made (root and `ip netns`)."""
    detail: str
    """One human-readable line, for /readyz and whoami."""
    layout: Layout | None = field(default=None, repr=False, compare=False)
    """Where per-call cgroups go; set when `cgroups` is."""

    def as_dict(self) -> dict[str, Any]:
        """The public fields, JSON-ready."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}


@functools.cache
def probe() -> Capabilities:
    """Find, by trying, the strongest isolation this host offers; cached after the first call."""
    bwrap_version = _probe_bwrap()
    layout, cgroup_detail = cgroups.detect()
    netns = _probe_netns()
    parts = [f"bubblewrap {bwrap_version}" if bwrap_version else "no bubblewrap", cgroup_detail]
    if netns:
        parts.append("netns")
    if bwrap_version:
        kill_tree: Literal["pid_namespace", "cgroup", "process_group"] = "pid_namespace"
    elif layout is not None:
        kill_tree = "cgroup"
    else:
        kill_tree = "process_group"
        parts.append("children that call setsid can outlive a kill")
    if not bwrap_version:
        parts.append("no filesystem or PID isolation: commands see the host as the server does")
    capabilities = Capabilities(
        tier="bwrap" if bwrap_version else "process",
        cgroups=layout.version if layout else None,
        kill_tree=kill_tree,
        netns=netns,
        detail=", ".join(parts),
        layout=layout,
    )
    logger.info(
        "sandbox probed",
        extra={"action": "sandbox.probe", "capabilities": capabilities.as_dict()},
    )
    return capabilities


def _probe_bwrap() -> str | None:
    """Version of bubblewrap when a capability-free, namespaced `true` runs under it."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None
    base = [bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    namespaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net"]
    try:
        ran = subprocess.run(
            [*base, *namespaces, "--die-with-parent", "--cap-drop", "ALL", "true"],
            capture_output=True,
            timeout=5,
            check=False,
        )
        version = subprocess.run(
            [bwrap, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if ran.returncode != 0:
        return None
    return version.stdout.strip().removeprefix("bubblewrap ") or "(unknown version)"


def _probe_netns() -> bool:
    """Whether a network namespace can be added and deleted (needs root and iproute2)."""
    ip = shutil.which("ip")
    if os.geteuid() != 0 or ip is None:
        return False
    name = cgroups.PREFIX + "probe-" + secrets.token_hex(4)
    try:
        added = subprocess.run([ip, "netns", "add", name], capture_output=True, timeout=5)
        if added.returncode != 0:
            return False
        deleted = subprocess.run([ip, "netns", "del", name], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return deleted.returncode == 0
