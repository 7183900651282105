"""Control groups of environments: CPU, memory and process limits, and one switch that kills all.

Two host layouts are handled: cgroup v1 (a hierarchy per controller, plus the empty v2 `unified`
mount of hybrid hosts, whose `cgroup.kill` still works) and pure cgroup v2 (one directory per
environment). Groups are created below the server's own groups and only groups made here are
touched. An environment's v2 group is delegated to its user, so the tool server inside can put
each command in a child group of its own and kill that command's whole tree; the limits, set on
the group itself, stay out of the agent's reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

MOUNT = Path("/sys/fs/cgroup")
"""Where the cgroup filesystems are mounted."""

CPU_PERIOD_US = 100_000
"""CFS period the CPU quota is expressed against."""

PREFIX = "corral-"
"""Name prefix of every group this module creates; the creating server's pid follows."""

_V1_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Where per-call groups are created on this host."""

    version: Literal["v1", "v2"]
    parents: tuple[Path, ...]
    """Where calls' groups go in each hierarchy: v1 memory, cpu, pids (+ unified); v2 one."""
    has_kill: bool
    """Whether the groups offer `cgroup.kill` (kernel 5.14+), the race-free way to end a tree."""

    def create(self, *, memory_bytes: int, cpus: float | None, pids: int) -> Group:
        """Make a fresh group with these limits in every hierarchy; undone if any write fails."""
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        group = Group(layout=self, dirs=tuple(parent / name for parent in self.parents))
        try:
            for path in group.dirs:
                path.mkdir()
            _write_limits(self.version, group.dirs, memory_bytes, cpus, pids)
        except OSError:
            group.remove_now()
            raise
        return group


@dataclass(frozen=True, kw_only=True)
class Group:
    """One call's groups, one per hierarchy; a process joins by writing its pid to each."""

    layout: Layout
    dirs: tuple[Path, ...]

    @property
    def procs_files(self) -> tuple[Path, ...]:
        """The `cgroup.procs` files a process writes its pid to in order to join."""
        return tuple(path / "cgroup.procs" for path in self.dirs)

    def kill(self) -> None:
        """SIGKILL every process in the group, including daemonised ones; never raises."""
        if self.layout.has_kill:
            for path in reversed(self.dirs):  # the v2 (or hybrid `unified`) group comes last
                with contextlib.suppress(OSError):
                    (path / "cgroup.kill").write_text("1")
                    return
        # Without cgroup.kill, sweep the member list until it stays empty; the pids limit bounds
        # how many new processes a fork loop can add between sweeps.
        for _ in range(100):
            pids = self.members()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def members(self) -> set[int]:
        """Pids of the processes still in the group."""
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in procs.read_text().split())
        return found

    def oom_kills(self) -> int:
        """How many processes of this group the kernel's OOM killer has taken so far."""
        name = "memory.oom_control" if self.layout.version == "v1" else "memory.events"
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                for line in (path / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    def set_cpus(self, cpus: float | None) -> None:
        """Change the CPU quota (None: no quota), e.g. once an environment has started."""
        _write_cpus(self.layout.version, self.dirs, cpus)

    @property
    def unified(self) -> Path | None:
        """The group's v2 directory (pure v2, or the `unified` mount of a hybrid host)."""
        last = self.dirs[-1]
        if self.layout.version == "v2" or last.is_relative_to(MOUNT / "unified"):
            return last
        return None

    def delegate(self, uid: int, gid: int) -> Path | None:
        """Let `uid` create child groups in the v2 directory and move its processes among them.

        Only the directory and the files that move processes change owner; the limits stay
        root's. Returns the delegated directory, or None when the host has no v2 group.
        """
        directory = self.unified
        if directory is None:
            return None
        os.chown(directory, uid, gid)
        for name in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
            with contextlib.suppress(FileNotFoundError):
                os.chown(directory / name, uid, gid)
        return directory

    async def remove(self, *, timeout_s: float = 5.0) -> None:
        """Kill what is left, then delete the directories once the kernel has let go of them."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            self.kill()
            if self.remove_now():
                return
            if asyncio.get_running_loop().time() > deadline:
                logger.warning(
                    "cgroup not removed", extra={"action": "cgroup.leak", "dirs": self.dirs}
                )
                return
            await asyncio.sleep(0.01)

    def remove_now(self) -> bool:
        """Delete the empty directories and the child groups made in them; True if none is left."""
        left = False
        for path in self.dirs:
            children = sorted((p for p in path.rglob("*") if p.is_dir()), reverse=True)
            for directory in [*children, path]:
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left = True
        return not left


def sweep_stale(layout: Layout) -> int:
    """Remove the groups of servers that died (the creating pid is in each group's name)."""
    removed = 0
    for parent in layout.parents:
        for group in parent.glob(f"{PREFIX}*"):
            pid = group.name.removeprefix(PREFIX).split("-", 1)[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            for directory in [*sorted(group.rglob("*"), reverse=True), group]:
                if directory.is_dir():
                    with contextlib.suppress(OSError):
                        (directory / "cgroup.kill").write_text("1")
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            removed += not group.exists()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detect() -> tuple[Layout | None, str]:
    """This host's usable layout (tried by creating and removing a group), and a line saying so."""
    own = _own_paths()
    try:
        if (MOUNT / "cgroup.controllers").exists():
            layout = _detect_v2(own.get("", "/"))
        else:
            layout = _detect_v1(own)
        probe = layout.create(memory_bytes=64 << 20, cpus=0.5, pids=16)
    except (OSError, _Unusable) as exc:
        return None, f"no cgroups ({exc})"
    try:
        has_kill = all((path / "cgroup.kill").exists() for path in probe.dirs[-1:])
    finally:
        probe.remove_now()
    layout = Layout(version=layout.version, parents=layout.parents, has_kill=has_kill)
    kill = ", cgroup.kill" if has_kill else ""
    return layout, f"cgroup {layout.version} (memory, cpu, pids{kill})"


class _Unusable(Exception):
    """The host has cgroups, but not ones this server may use."""


def _own_paths() -> dict[str, str]:
    """The server's own group per controller ("" for v2), from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _detect_v1(own: dict[str, str]) -> Layout:
    parents = []
    for controller in _V1_CONTROLLERS:
        if controller not in own or not (MOUNT / controller).is_dir():
            raise _Unusable(f"the {controller} controller is not mounted")
        parents.append(MOUNT / controller / own[controller].lstrip("/"))
    # The controller-less v2 mount of hybrid hosts still offers cgroup.kill.
    if (MOUNT / "unified" / "cgroup.procs").exists():
        parents.append(MOUNT / "unified" / own.get("", "/").lstrip("/"))
    return Layout(version="v1", parents=tuple(parents), has_kill=False)


def _detect_v2(own: str) -> Layout:
    parent = MOUNT / own.lstrip("/")
    wanted = set(_V1_CONTROLLERS)
    if wanted - set((parent / "cgroup.controllers").read_text().split()):
        raise _Unusable(f"memory, cpu and pids are not all available in {parent}")
    if wanted - set((parent / "cgroup.subtree_control").read_text().split()):
        _enable_controllers(parent)
    return Layout(version="v2", parents=(parent,), has_kill=False)


def _enable_controllers(parent: Path) -> None:
    """Delegate memory, cpu and pids to children of `parent`.

    v2 forbids processes in a group whose children have controllers, so when the server is alone
    in its group it first moves into a leaf child; it never moves other processes.
    """
    control = parent / "cgroup.subtree_control"
    try:
        control.write_text("+memory +cpu +pids")
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    if {int(pid) for pid in (parent / "cgroup.procs").read_text().split()} != {os.getpid()}:
        raise _Unusable(f"{parent} holds other processes; run the server in its own group")
    leaf = parent / (PREFIX + "server")
    leaf.mkdir(exist_ok=True)
    (leaf / "cgroup.procs").write_text(str(os.getpid()))
    control.write_text("+memory +cpu +pids")


def _write_limits(
    version: Literal["v1", "v2"], dirs: tuple[Path, ...], memory_bytes: int, cpus: float | None,
    pids: int,
) -> None:  # fmt: skip
    if version == "v2":
        (path,) = dirs
        (path / "memory.max").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):
            (path / "memory.swap.max").write_text("0")
        (path / "pids.max").write_text(str(pids))
    else:
        memory, _, pids_dir, *_ = dirs
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):  # only present when swap accounting is on
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        (pids_dir / "pids.max").write_text(str(pids))
    _write_cpus(version, dirs, cpus)


def _write_cpus(version: Literal["v1", "v2"], dirs: tuple[Path, ...], cpus: float | None) -> None:
    quota = -1 if cpus is None else max(1000, int(cpus * CPU_PERIOD_US))
    if version == "v2":
        (dirs[0] / "cpu.max").write_text(f"{'max' if quota < 0 else quota} {CPU_PERIOD_US}")
        return
    (dirs[1] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
    (dirs[1] / "cpu.cfs_quota_us").write_text(str(quota))
