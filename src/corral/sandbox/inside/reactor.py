"""A small poll loop for the tool server: pipes to drain, children to reap, deadlines.

The tool server answers one request at a time, but background jobs keep writing while it works,
so every wait goes through `Reactor.run_until`, which keeps draining them. Children are watched
through pidfds, so an exit is an event like any other and nothing depends on SIGCHLD.
"""

from __future__ import annotations

import os
import select
import time

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from collections.abc import Callable

_READ_CHUNK = 65_536
_WAKE = select.POLLIN | select.POLLHUP | select.POLLERR


class Reactor:
    """Calls a handler when one of its file descriptors is readable or closed."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._handlers: dict[int, Callable[[], None]] = {}

    def watch(self, fd: int, handler: Callable[[], None]) -> None:
        """Call `handler` whenever `fd` is readable, hung up or in error."""
        self._handlers[fd] = handler
        self._poll.register(fd, _WAKE)

    def forget(self, fd: int) -> None:
        """Stop watching `fd` (it stays open)."""
        if self._handlers.pop(fd, None) is not None:
            self._poll.unregister(fd)

    def run_until(self, done: Callable[[], bool], deadline: float | None = None) -> bool:
        """Dispatch events until `done()`; False when `deadline` (monotonic) came first."""
        while not done():
            timeout_ms = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                timeout_ms = max(1, int(left * 1000))
            for fd, _ in self._poll.poll(timeout_ms):
                handler = self._handlers.get(fd)
                if handler is not None:
                    handler()
        return True

    def poll_once(self) -> None:
        """Dispatch what is ready now, without waiting."""
        self.run_until(lambda: False, time.monotonic())


class Child:
    """A child process, reaped as soon as it exits."""

    def __init__(self, reactor: Reactor, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None
        """The wait status once reaped."""
        self._reactor = reactor
        self._pidfd = os.pidfd_open(pid)
        reactor.watch(self._pidfd, self._reap)

    @property
    def exited(self) -> bool:
        """Whether it has exited and been reaped."""
        return self.status is not None

    @property
    def exit_code(self) -> int | None:
        """Its exit code; None while it runs or when a signal ended it."""
        if self.status is None or not os.WIFEXITED(self.status):
            return None
        return os.WEXITSTATUS(self.status)

    def kill(self) -> None:
        """SIGKILL the child itself (its group or cgroup is the caller's business)."""
        if not self.exited:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return
        self.status = status
        self._reactor.forget(self._pidfd)
        os.close(self._pidfd)


class Drain:
    """Reads a pipe until every writer has closed it, passing each chunk on."""

    def __init__(self, reactor: Reactor, fd: int, sink: Callable[[bytes], None]) -> None:
        self.closed = False
        self._reactor = reactor
        self._fd = fd
        self._sink = sink
        os.set_blocking(fd, False)
        reactor.watch(fd, self._read)

    def close(self) -> None:
        """Stop reading, whether or not writers remain."""
        if not self.closed:
            self.closed = True
            self._reactor.forget(self._fd)
            os.close(self._fd)

    def _read(self) -> None:
        try:
            chunk = os.read(self._fd, _READ_CHUNK)
        except BlockingIOError:
            return
        if chunk:
            self._sink(chunk)
        else:
            self.close()
