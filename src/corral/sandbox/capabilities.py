"""What isolation this host can enforce, found once by trying rather than assumed.

Probing runs real commands (bubblewrap with every namespace, a private mount, nftables, a loop
mount) and reads the cgroup mounts. The verdict is a tier: `bwrap` (environments are enforced),
`unavailable` (agent tools are refused, and the report says how to fix the host) or `none` (the
operator chose to run tools without a sandbox). What each tier lacks is spelled out in `detail`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from corral.sandbox import cgroups, seccomp
from corral.sandbox.cgroups import Layout

__all__ = ["Capabilities", "NetworkMode", "SandboxMode", "Tier", "probe"]

logger = logging.getLogger(__name__)

Tier = Literal["bwrap", "unavailable", "none"]
SandboxMode = Literal["auto", "bwrap", "none"]
NetworkMode = Literal["open", "limited", "none"]

PROBE_UID = 2_147_000_000
"""An unprivileged uid the probe runs bubblewrap as (when root); owns nothing on the host."""

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"

_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What isolation this host can enforce, as found by `probe`."""

    tier: Tier
    """`bwrap`: tools run in environments; `unavailable`: they are refused; `none`: they run
    unsandboxed because the operator set `CORRAL_SANDBOX=none`."""
    dedicated_users: bool
    """Each environment runs as a uid of its own (the server is root); otherwise as the
    server's own user."""
    cgroups: Literal["v1", "v2"] | None
    """Which cgroup layout enforces CPU, memory and pids limits; None when they are not."""
    kill_tree: Literal["cgroup", "pid_namespace", "process_group"]
    """How one command's whole tree is ended inside an environment."""
    networks: tuple[NetworkMode, ...]
    """The networking modes that can be enforced."""
    open_network: Literal["slirp4netns", "proxy"] | None
    """How `open` networking reaches the internet: a user-mode stack with a firewall, or the
    egress proxy (HTTP and HTTPS only)."""
    disk_quota: bool
    """Whether each environment's files live on a file system of its own size."""
    seccomp: bool = False
    """Whether a seccomp filter takes rarely needed, risky system calls out of reach."""
    detail: str
    """One human-readable line, for /readyz, whoami and the startup banner."""
    fix: str | None = None
    """What to do on this host to get the full sandbox, when something is missing."""
    layout: Layout | None = field(default=None, repr=False, compare=False)
    """Where environments' cgroups go; set when `cgroups` is."""
    bwrap: str | None = field(default=None, repr=False, compare=False)
    """Path of the bubblewrap binary that passed the probe."""

    @property
    def enforced(self) -> bool:
        """Whether tools run inside environments at all."""
        return self.tier == "bwrap"

    def as_dict(self) -> dict[str, Any]:
        """The public fields, JSON-ready."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}
        values["networks"] = list(self.networks)
        return values


@functools.cache
def probe(mode: SandboxMode = "auto") -> Capabilities:
    """Find, by trying, what this host can enforce; cached per mode."""
    if mode == "none":
        return _unsafe()
    bwrap, failure = _probe_bwrap()
    if bwrap is None:
        return Capabilities(
            tier="unavailable",
            dedicated_users=False,
            cgroups=None,
            kill_tree="process_group",
            networks=(),
            open_network=None,
            disk_quota=False,
            detail=f"agent tools are refused: {failure}",
            fix=f"{INSTALL_HINT}, or set CORRAL_SANDBOX=none to run tools without isolation",
        )
    root = os.geteuid() == 0 and _private_mounts_work()
    layout, cgroup_detail = cgroups.detect() if root else (None, "no cgroups (not root)")
    slirp = root and shutil.which("slirp4netns") is not None and _nft_works()
    networks: tuple[NetworkMode, ...] = ("open", "limited", "none") if root else ("none",)
    disk = root and _loop_mounts_work()
    missing = _missing(root=root, layout=layout, slirp=slirp, disk=disk)
    parts = [f"bubblewrap {_version(bwrap)}", cgroup_detail]
    parts.append("own uid per environment" if root else "environments run as the server's user")
    parts.append(f"networks: {', '.join(networks)}")
    if "open" in networks:
        parts.append("open via slirp4netns + nftables" if slirp else "open via the egress proxy")
    parts.append("disk quota" if disk else "no disk quota")
    filtered = seccomp.supported()
    parts.append("seccomp filter" if filtered else f"no seccomp filter for {platform.machine()}")
    capabilities = Capabilities(
        tier="bwrap",
        dedicated_users=root,
        cgroups=layout.version if layout else None,
        kill_tree="cgroup" if layout is not None and layout.has_kill else "pid_namespace",
        networks=networks,
        open_network=("slirp4netns" if slirp else "proxy") if "open" in networks else None,
        disk_quota=disk,
        seccomp=filtered,
        detail=", ".join(parts),
        fix="; ".join(missing) or None,
        layout=layout,
        bwrap=bwrap,
    )
    logger.info(
        "sandbox probed", extra={"action": "sandbox.probe", "capabilities": capabilities.as_dict()}
    )
    return capabilities


def _unsafe() -> Capabilities:
    user = _user_name()
    return Capabilities(
        tier="none",
        dedicated_users=False,
        cgroups=None,
        kill_tree="process_group",
        networks=("open",),
        open_network=None,
        disk_quota=False,
        detail=(
            f"UNSAFE: CORRAL_SANDBOX=none: agent tools run without isolation, as {user}, with "
            "the host's files and network"
        ),
        fix=f"{INSTALL_HINT} and unset CORRAL_SANDBOX",
    )


def _user_name() -> str:
    uid = os.geteuid()
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _missing(*, root: bool, layout: Layout | None, slirp: bool, disk: bool) -> list[str]:
    if not root:
        return ["run the server as root for per-environment users, limits, networks and disk"]
    missing = []
    if layout is None:
        missing.append("give the server a writable cgroup (v1 or v2) for CPU and memory limits")
    if not slirp:
        missing.append("install slirp4netns and nftables for full `open` networking")
    if not disk:
        missing.append("install e2fsprogs and allow loop devices for disk quotas")
    return missing


def _probe_bwrap() -> tuple[str | None, str]:
    """The bubblewrap binary when a namespaced, unprivileged `true` runs under it."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bubblewrap (bwrap) is not installed"
    argv = [
        bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
        "--unshare-uts", "--disable-userns", "--die-with-parent", "--ro-bind", "/usr", "/usr",
        *_usr_links(), "--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true",
    ]  # fmt: skip
    if os.geteuid() == 0:
        argv = [*drop_privileges(PROBE_UID, PROBE_UID), *argv]
    ran = _run(argv)
    if ran is None or ran.returncode != 0:
        why = (ran.stderr.strip().splitlines() or ["no output"])[-1] if ran else "it hung"
        return None, f"bubblewrap cannot create namespaces here ({why})"
    return bwrap, ""


def drop_privileges(uid: int, gid: int) -> list[str]:
    """`setpriv` arguments that become `uid` with no groups, capabilities or new privileges."""
    return [
        shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={gid}",
        "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
    ]  # fmt: skip


def _usr_links() -> list[str]:
    """Bwrap arguments recreating /bin, /lib... as the host has them (merged /usr or not)."""
    argv: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    return argv


def _private_mounts_work() -> bool:
    """Whether a private mount namespace can be made (to stage what environments see)."""
    unshare = shutil.which("unshare")
    ran = _run([unshare, "--mount", "--", "/usr/bin/true"]) if unshare else None
    return ran is not None and ran.returncode == 0


def _nft_works() -> bool:
    """Whether nftables rules can be loaded into a fresh network namespace."""
    nft, unshare = shutil.which("nft"), shutil.which("unshare")
    if nft is None or unshare is None:
        return False
    ran = _run([unshare, "--net", "--", nft, "-f", "-"], stdin="table inet corral_probe { }\n")
    return ran is not None and ran.returncode == 0


def _loop_mounts_work() -> bool:
    """Whether a small ext4 image can be made and loop-mounted in a private namespace."""
    mkfs, unshare = shutil.which("mkfs.ext4"), shutil.which("unshare")
    if mkfs is None or unshare is None or not Path("/dev/loop-control").exists():
        return False
    with tempfile.TemporaryDirectory(prefix="corral-probe-") as scratch:
        image, target = Path(scratch) / "disk.img", Path(scratch) / "mnt"
        target.mkdir()
        with image.open("wb") as handle:
            handle.truncate(8 << 20)
        made = _run([mkfs, "-q", "-F", "-m", "0", str(image)])
        if made is None or made.returncode != 0:
            return False
        mounted = _run(
            [unshare, "--mount", "--", "mount", "-o", "loop,nosuid,nodev", str(image), str(target)]
        )
        return mounted is not None and mounted.returncode == 0


def _version(bwrap: str) -> str:
    ran = _run([bwrap, "--version"])
    version = ran.stdout.strip().removeprefix("bubblewrap ") if ran else ""
    return version or "(unknown version)"


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
