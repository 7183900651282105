"""Control groups of the commands inside an environment: one each, ended as a whole.

Every command (a foreground call, a background job, an MCP server, a search) gets a child group
of the environment's delegated cgroup when the host offers one, so `cgroup.kill` ends everything
it started, children that called setsid included. Without one, its session's process group is
killed, which misses setsid escapees; the environment itself still ends them all when it stops.
"""

from __future__ import annotations

import os
import time

from corral.sandbox.inside.reactor import Reactor


class Groups:
    """Child cgroups of the environment's delegated group, one per command at a time.

    Groups are reused rather than removed: removing a group that held a process makes the
    kernel wait milliseconds, which every command would pay. They go when the server stops.
    """

    def __init__(self, root: str | None) -> None:
        self.root = root if root and os.access(root, os.W_OK) else None
        self._count = 0
        self._free: list[str] = []
        self._retired: list[str] = []

    def create(self, kind: str) -> str | None:
        """An empty group's directory, or None when commands are grouped by session only."""
        if self.root is None:
            return None
        if self._free:
            return self._free.pop()
        self._count += 1
        path = f"{self.root}/{kind}-{self._count}"
        try:
            os.mkdir(path)
        except OSError:
            return None
        return path

    def kill(self, group: str | None, pgid: int) -> None:
        """SIGKILL everything in `group`, and the process group `pgid` (the command's session).

        An empty group is not killed: `cgroup.kill` makes the kernel wait milliseconds even
        then. The process group covers a command that has not joined its group yet.
        """
        if group is not None and members(group):
            try:
                write(f"{group}/cgroup.kill", "1")
            except OSError:
                for pid in members(group):
                    _signal(pid, 9)
        if pgid > 0:
            try:
                os.killpg(pgid, 9)
            except OSError:
                pass

    def remove(self, group: str | None, reactor: Reactor) -> None:
        """The command of `group` is over: the group serves another once it is empty."""
        if group is None:
            return
        if members(group):
            self._retired.append(group)  # a killed process is still leaving
        else:
            self._free.append(group)

    def sweep(self) -> None:
        """Make the retired groups that have emptied since free again (never waits)."""
        left = []
        for group in self._retired:
            if members(group):
                self.kill(group, 0)
                left.append(group)
            else:
                self._free.append(group)
        self._retired = left

    def remove_all(self, reactor: Reactor, timeout_s: float = 2.0) -> None:
        """Delete every group (the server is stopping), waiting for them to empty."""
        deadline = time.monotonic() + timeout_s
        pending = [*self._free, *self._retired]
        self._free, self._retired = [], []
        while pending and time.monotonic() < deadline:
            left = []
            for group in pending:
                try:
                    os.rmdir(group)
                except FileNotFoundError:
                    pass
                except OSError:
                    self.kill(group, 0)
                    left.append(group)
            pending = left
            if pending:
                reactor.run_until(lambda: False, time.monotonic() + 0.01)


def members(group: str) -> list[int]:
    """Pids of the processes in `group`."""
    try:
        with open(f"{group}/cgroup.procs") as procs:
            return [int(line) for line in procs.read().split()]
    except OSError:
        return []


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except OSError:
        pass


def write(path: str, text: str) -> None:
    """Write `text` to a cgroup file in one call."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
