"""The command line that starts an environment: what its sandbox sees, and as whom it runs.

As root, a private mount namespace stages everything the sandbox binds (the interpreter, the
toolchains, the environment's disk) where an unprivileged user can reach it, the process joins
the environment's cgroups and lowers its rlimits, then drops to the environment's own uid and
starts bubblewrap: new user, PID, mount, IPC, UTS, cgroup and network namespaces, a minimal
read-only system, no capabilities, no new privileges, no further user namespaces. Without root,
bubblewrap runs as the server's user and binds what that user can read. Nothing here starts a
process; `Plan` is plain data so the command line can be read and tested.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corral.sandbox.boot import BOOTSTRAP
from corral.sandbox.capabilities import drop_privileges

__all__ = [
    "BUSY_EXIT_CODE",
    "HOME",
    "INNER_UID",
    "STAGE",
    "SYSTEM_PATH",
    "WORKSPACE",
    "DiskSource",
    "Plan",
    "argv",
    "fstab",
    "inner_path",
    "interpreter",
    "locked",
    "toolchains",
]

WORKSPACE = "/workspace"
"""Where the agent's files are, inside; the working directory of every command."""
HOME = "/home/agent"
STATE = "/run/corral/state"
"""The tool server's own files (job logs, todos), on the environment's disk."""
PYTHON = "/run/corral/python"
CGROUP = "/run/corral/cgroup"
STAGE = "/run/corral-stage"
"""Where the root side stages binds, in its private mount namespace only."""
INNER_UID = 1000
"""The uid the agent sees itself as (`agent`); outside it is the environment's own uid."""
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DISK_DIRS = {"workspace": WORKSPACE, "home": HOME, "tmp": "/tmp", ".corral": STATE}
"""The folders of an environment's disk and where each is bound inside."""
MASKED = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers")

_JOIN_AND_DROP = """\
fstab=$1; shift
while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift
ulimit -c 0 && ulimit -n "$CORRAL_NOFILE" && ulimit -f "$CORRAL_FSIZE" || exit 125
unset CORRAL_NOFILE CORRAL_FSIZE
mount -a -T "$fstab" || exit 125
exec "$@"
"""
"""Runs as root in the private mount namespace: join the cgroups, lower rlimits, stage the
binds, then exec the dropping command."""


@dataclass(frozen=True, kw_only=True)
class DiskSource:
    """Where an environment's files live on the host."""

    path: Path
    """An ext4 image (`is_image`) or a directory, holding the folders of `DISK_DIRS`."""
    is_image: bool


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything that decides an environment's command line."""

    uid: int
    gid: int
    disk: DiskSource
    etc: Path
    """A host folder of generated files bound over /etc's: passwd, group, empty, resolv.conf."""
    network: bool
    """Whether the sandbox gets its own network namespace (always, once enforced)."""
    report_pid: bool = False
    """Whether bubblewrap reports the sandbox's pid on `info_fd` (to configure its network and
    to kill it)."""
    cgroup_procs: tuple[Path, ...] = ()
    """`cgroup.procs` files to join before dropping privileges."""
    delegated_cgroup: Path | None = None
    """The environment's v2 group, bound inside for per-command groups."""
    file_size_mb: int = 1024
    open_files: int = 4096
    toolchains: tuple[Path, ...] = ()
    """Host folders bound read-only at the same path (the server's PATH points into them)."""
    extra_mounts: tuple[Path, ...] = ()
    """Operator-chosen host folders bound read-only at the same path."""
    path: str = SYSTEM_PATH
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables of the tool server itself (commands get theirs from the hello request)."""
    rooted: bool = True
    """The server is root: stage in a private mount namespace and drop to `uid`."""
    lock: Path | None = None
    """The workspace's lock file: the first process takes it and every process of the
    environment holds it, so it is released exactly when the environment is gone."""
    bwrap: str = "bwrap"
    channel_fd: int = 3
    fds_fd: int = 4
    info_fd: int | None = None
    seccomp_fd: int | None = None
    """A descriptor holding the seccomp program bubblewrap loads before the tool server."""


def interpreter() -> tuple[Path, str]:
    """The base interpreter's prefix, and its executable relative to that prefix."""
    executable = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    prefix = Path(sys.base_prefix).resolve()
    try:
        return prefix, str(executable.relative_to(prefix))
    except ValueError:
        return executable.parent.parent, str(Path(executable.parent.name) / executable.name)


def inner_path(path: str | None = None) -> str:
    """The server's PATH without its own virtualenv (whose python is not the agent's)."""
    path = path or os.environ.get("PATH") or SYSTEM_PATH
    if sys.prefix == sys.base_prefix:
        return path
    venv_bin = str(Path(sys.prefix) / "bin")
    return os.pathsep.join(entry for entry in path.split(os.pathsep) if entry != venv_bin)


def toolchains(path: str, home: Path | None = None) -> tuple[Path, ...]:
    """Top folders of the server's home that PATH points into (~/.pyenv, ~/.cargo...)."""
    home = home or Path.home()
    if home == Path("/"):
        return ()
    found: list[Path] = []
    for entry in path.split(os.pathsep):
        entry_path = Path(entry)
        if entry_path.is_relative_to(home) and entry_path != home:
            top = home / entry_path.relative_to(home).parts[0]
            if top not in found:
                found.append(top)
    if home / ".cargo" in found:
        found.append(home / ".rustup")
    return tuple(top for top in found if top.is_dir())


def fstab(plan: Plan) -> str:
    """The mounts the root side stages in its private namespace, in order."""
    prefix, _ = interpreter()
    lines = [f"none {STAGE} tmpfs mode=0755,size=1m,nosuid,nodev,X-mount.mkdir 0 0"]
    lines.append(_bind(prefix, f"{STAGE}/python"))
    lines.append(_bind(plan.etc, f"{STAGE}/etc"))
    for index, source in enumerate((*plan.toolchains, *plan.extra_mounts)):
        lines.append(_bind(source, f"{STAGE}/ro{index}"))
    disk = _escape(str(plan.disk.path))
    if plan.disk.is_image:
        options = "loop,nosuid,nodev,noatime,discard,X-mount.mkdir"
        lines.append(f"{disk} {STAGE}/disk ext4 {options} 0 0")
    else:
        lines.append(f"{disk} {STAGE}/disk none bind,nosuid,nodev,X-mount.mkdir 0 0")
    return "\n".join(lines) + "\n"


def argv(plan: Plan, fstab_path: Path | None = None) -> list[str]:
    """The whole command line of an environment's tool server."""
    prefix, executable = interpreter()
    if plan.rooted:
        stage = {"python": f"{STAGE}/python", "etc": f"{STAGE}/etc", "disk": f"{STAGE}/disk"}
        read_only = [f"{STAGE}/ro{i}" for i in range(len(plan.toolchains) + len(plan.extra_mounts))]
    else:
        stage = {"python": str(prefix), "etc": str(plan.etc), "disk": str(plan.disk.path)}
        read_only = [str(p) for p in (*plan.toolchains, *plan.extra_mounts)]
    inner = [plan.bwrap, *_namespaces(plan), *_system(stage["etc"])]
    inner += ["--ro-bind", stage["python"], PYTHON]
    for folder, inside in DISK_DIRS.items():
        inner += ["--bind", f"{stage['disk']}/{folder}", inside]
    # After the disk: a toolchain or a mount may live under /tmp or /home (a checkout in /tmp).
    for source, host_path in zip(read_only, (*plan.toolchains, *plan.extra_mounts), strict=True):
        inner += ["--ro-bind", source, str(host_path)]
    if plan.delegated_cgroup is not None:
        inner += ["--bind", str(plan.delegated_cgroup), CGROUP]
    inner += ["--proc", "/proc", "--dev", "/dev", "--chdir", WORKSPACE, "--clearenv"]
    for name, value in {"PATH": plan.path, **plan.env}.items():
        inner += ["--setenv", name, value]
    if plan.report_pid and plan.info_fd is not None:
        inner += ["--info-fd", str(plan.info_fd)]
    if plan.seccomp_fd is not None:
        inner += ["--seccomp", str(plan.seccomp_fd)]
    inner += ["--", f"{PYTHON}/{executable}", "-I", "-S", "-c", BOOTSTRAP]
    inner += [str(plan.channel_fd), str(plan.fds_fd)]
    if not plan.rooted:
        return [*locked(plan.lock), *inner]
    if fstab_path is None:
        raise ValueError("a rooted plan needs its fstab written to a file")
    unshare = shutil.which("unshare") or "unshare"
    return [
        *locked(plan.lock), unshare, "--mount", "--propagation", "private", "--", "/bin/sh",
        "-c", _JOIN_AND_DROP, "corral-environment", str(fstab_path),
        *map(str, plan.cgroup_procs), "--", *drop_privileges(plan.uid, plan.gid), *inner,
    ]  # fmt: skip


BUSY_EXIT_CODE = 75
"""How the launch ends when another environment holds the workspace's lock."""


def locked(lock: Path | None) -> list[str]:
    """`flock` arguments that take the workspace's lock and exec the rest, or nothing."""
    if lock is None:
        return []
    flock = shutil.which("flock") or "flock"
    return [
        flock,
        "--nonblock",
        "--conflict-exit-code",
        str(BUSY_EXIT_CODE),
        "--no-fork",
        str(lock),
    ]


def shell_env(plan: Plan) -> dict[str, str]:
    """The variables the root-side script reads (limits and the staged disk)."""
    blocks = plan.file_size_mb * 2048  # sh counts file size in 512-byte blocks
    return {
        "PATH": SYSTEM_PATH,
        "CORRAL_NOFILE": str(plan.open_files),
        "CORRAL_FSIZE": str(blocks),
    }


def _namespaces(plan: Plan) -> list[str]:
    args = ["--unshare-user", "--uid", str(INNER_UID), "--gid", str(INNER_UID)]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if plan.network:
        args.append("--unshare-net")
    args += ["--disable-userns", "--die-with-parent", "--new-session", "--hostname", "corral"]
    return args


def _system(etc: str) -> list[str]:
    """A minimal read-only system: /usr, /etc with secrets masked, /opt when there is one."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", "/etc", "/etc", "--ro-bind-try", "/opt", "/opt"]
    args += ["--ro-bind", f"{etc}/passwd", "/etc/passwd", "--ro-bind", f"{etc}/group", "/etc/group"]
    args += ["--ro-bind-try", f"{etc}/resolv.conf", "/etc/resolv.conf"]
    for secret in MASKED:
        if os.path.lexists(secret):
            args += ["--ro-bind", f"{etc}/empty", secret]
    return args


def _bind(source: Path, target: str) -> str:
    return f"{_escape(str(source))} {target} none bind,ro,X-mount.mkdir 0 0"


def _escape(path: str) -> str:
    """A path as fstab spells it (spaces, tabs, newlines and backslashes octal-escaped)."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


def describe(command: Sequence[str]) -> str:
    """A command line for logs, without the bootstrap's source."""
    return shlex.join(arg if arg != BOOTSTRAP else "<bootstrap>" for arg in command)
