"""Commands inside the environment: each in a control group of its own, ended as a whole.

Every command (a foreground call, a background job, an MCP server) gets a child group of the
environment's delegated cgroup when the host offers one, so `cgroup.kill` ends everything it
started, children that called setsid included. Without one, its session's process group is
killed, which misses setsid escapees; the environment itself still ends them all when it stops.
"""

from __future__ import annotations

import codecs
import os
import time

from corral.sandbox.inside.reactor import Child, Drain, Reactor

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from collections.abc import Sequence

_MARKER = "\n[... output truncated: {omitted} of {total} characters omitted ...]\n"
_DRAIN_S = 1.0
"""How long output is still read after a command's tree is gone (a pipe held by an escapee)."""


class Groups:
    """Child cgroups of the environment's delegated group, one per command."""

    def __init__(self, root: str | None) -> None:
        self.root = root if root and os.access(root, os.W_OK) else None
        self._count = 0

    def create(self, kind: str) -> str | None:
        """A fresh group's directory, or None when commands are grouped by session only."""
        if self.root is None:
            return None
        self._count += 1
        path = f"{self.root}/{kind}-{self._count}"
        try:
            os.mkdir(path)
        except OSError:
            return None
        return path

    def kill(self, group: str | None, pgid: int) -> None:
        """SIGKILL everything in `group` (or the process group `pgid` without one)."""
        if group is not None:
            try:
                _write(f"{group}/cgroup.kill", "1")
                return
            except OSError:
                pass
            for pid in members(group):
                _signal(pid, 9)
        if pgid > 0:
            try:
                os.killpg(pgid, 9)
            except OSError:
                pass

    def remove(self, group: str | None, reactor: Reactor) -> None:
        """Delete an emptied group, waiting briefly for the kernel to let its members go."""
        if group is None:
            return
        deadline = time.monotonic() + 2.0
        while True:
            try:
                os.rmdir(group)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                self.kill(group, 0)
                reactor.run_until(lambda: False, time.monotonic() + 0.01)


def members(group: str) -> list[int]:
    """Pids of the processes in `group`."""
    try:
        with open(f"{group}/cgroup.procs") as procs:
            return [int(line) for line in procs.read().split()]
    except OSError:
        return []


def spawn(
    reactor: Reactor,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str,
    group: str | None,
    stdin: int,
    stdout: int,
    stderr: int,
) -> Child:
    """Start `argv` in a new session, in `group`, with these standard streams."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.setsid()
            if group is not None:
                _write(f"{group}/cgroup.procs", str(os.getpid()))
            os.dup2(stdin, 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            os.chdir(cwd)
            os.execvpe(argv[0], list(argv), env)
        except BaseException as error:
            try:
                os.write(2, f"cannot start {argv[0]}: {error}\n".encode())
            except OSError:
                pass
        os._exit(127)
    return Child(reactor, pid)


class Capture:
    """Decodes output keeping its head and tail within a bound, counting what falls between."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = ""
        self._tail = ""
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes."""
        self._add(self._decoder.decode(chunk))

    def text(self) -> str:
        """Everything, or its head and tail around a marker."""
        self._add(self._decoder.decode(b"", final=True))
        if self._total <= self._limit:
            return self._head + self._tail
        keep = self._limit // 2
        last = (self._head + self._tail)[-keep:] if keep else ""
        marker = _MARKER.format(omitted=self._total - 2 * keep, total=self._total)
        return self._head[:keep] + marker + last

    def _add(self, text: str) -> None:
        self._total += len(text)
        room = self._limit - len(self._head)
        if room > 0:
            self._head += text[:room]
            text = text[room:]
        self._tail += text
        if len(self._tail) > 2 * self._limit:
            self._tail = self._tail[-self._limit :]


def run(
    reactor: Reactor,
    groups: Groups,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str,
    timeout_s: float,
    max_chars: int,
) -> dict[str, object]:
    """Run a command to its end or its timeout; nothing it started outlives the call."""
    started = time.monotonic()
    group = groups.create("call")
    read_fd, write_fd = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        child = spawn(
            reactor, argv, env=env, cwd=cwd, group=group, stdin=null, stdout=write_fd,
            stderr=write_fd,
        )  # fmt: skip
    finally:
        os.close(write_fd)
        os.close(null)
    capture = Capture(max_chars)
    drain = Drain(reactor, read_fd, capture.feed)
    finished = reactor.run_until(lambda: child.exited, started + timeout_s)
    groups.kill(group, child.pid)
    reactor.run_until(lambda: child.exited)
    reactor.run_until(lambda: drain.closed, time.monotonic() + _DRAIN_S)
    drain.close()
    groups.remove(group, reactor)
    signal = None
    if child.status is not None and os.WIFSIGNALED(child.status):
        signal = os.WTERMSIG(child.status)
    return {
        "exit_code": child.exit_code if finished else None,
        "signal": signal,
        "output": capture.text(),
        "timed_out": not finished,
        "duration_s": time.monotonic() - started,
    }


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except OSError:
        pass


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
